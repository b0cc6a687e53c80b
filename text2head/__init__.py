"""text2head: text prompt to textured, animatable 3D human head."""

__version__ = "0.1.0"
