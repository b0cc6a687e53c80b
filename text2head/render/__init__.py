"""Differentiable mesh renderer: cameras, exact z-buffer rasterization, shading, antialiasing.

Independent of the head model: it takes vertices, faces and surface attributes.
"""

from ..geometry import vertex_normals
from .cameras import NAMED_VIEWS, Cameras
from .rasterize import Cutout, Fragments, rasterize
from .renderer import RenderOutput, render
from .shading import (
    Lights,
    interpolate,
    interpolate_corners,
    sample_texture,
    shade,
    shade_hair,
    texture_cutout,
)
from .silhouettes import antialias, face_neighbors

__all__ = [
    "NAMED_VIEWS",
    "Cameras",
    "Cutout",
    "Fragments",
    "Lights",
    "RenderOutput",
    "antialias",
    "face_neighbors",
    "interpolate",
    "interpolate_corners",
    "rasterize",
    "render",
    "sample_texture",
    "shade",
    "shade_hair",
    "texture_cutout",
    "vertex_normals",
]
