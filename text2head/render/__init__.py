"""Differentiable mesh renderer: cameras, exact z-buffer rasterization, soft layered cards,
linear-light shading with a tone curve, antialiasing and catchlights.

Independent of the head model: it takes vertices, faces and surface attributes.
"""

from ..geometry import vertex_normals
from .cameras import NAMED_VIEWS, Cameras
from .lights import Lights
from .rasterize import Fragments, Layers, rasterize, rasterize_layers
from .renderer import RenderOutput, render
from .shading import interpolate, interpolate_corners, sample_texture, shade, shade_hair
from .silhouettes import antialias, face_neighbors
from .tone import display, linear_to_srgb, pbr_neutral, srgb_to_linear

__all__ = [
    "NAMED_VIEWS",
    "Cameras",
    "Fragments",
    "Layers",
    "Lights",
    "RenderOutput",
    "antialias",
    "display",
    "face_neighbors",
    "interpolate",
    "interpolate_corners",
    "linear_to_srgb",
    "pbr_neutral",
    "rasterize",
    "rasterize_layers",
    "render",
    "sample_texture",
    "shade",
    "shade_hair",
    "srgb_to_linear",
    "vertex_normals",
]
