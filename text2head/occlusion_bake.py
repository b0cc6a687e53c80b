"""A part's ambient occlusion baked into the colours every export format carries.

Viewers treat glTF's occlusionTexture differently: three.js and Babylon darken only ambient
and image-based light with it, Blender ignores it, and OBJ and PLY have no such map. So part
of the occlusion also darkens the albedo itself (texture and vertex colours), enough for the
cavities (nostrils, mouth corners, under the hair) to read everywhere, not so much that a
viewer that does apply the map darkens them twice as much as they should be.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from text2head.mesh import TexturedMesh
from text2head.render.tone import linear_to_srgb, srgb_to_linear

IN_BASE_COLOUR = 0.4  # albedo * lerp(1, occlusion, this); the full occlusion goes in the map


def occlusion_factor(occlusion: np.ndarray) -> np.ndarray:
    """The linear albedo multiplier for occlusion in [0, 1] (1 = open)."""
    return (1.0 - IN_BASE_COLOUR * (1.0 - occlusion)).astype(np.float32)


def base_colour_texture(mesh: TexturedMesh) -> np.ndarray:
    """The part's texture darkened by its `occlusion_texture` (alpha kept); unchanged without
    one. The map is resampled to the texture's size if they differ."""
    if mesh.occlusion_texture is None:
        return mesh.texture
    height, width = mesh.texture.shape[:2]
    occlusion = mesh.occlusion_texture
    if occlusion.shape != (height, width):
        occlusion = np.asarray(Image.fromarray(occlusion).resize(
            (width, height), Image.Resampling.BILINEAR))
    factor = occlusion_factor(occlusion.astype(np.float32) / 255.0)[..., None]
    rgb = _darkened(mesh.texture[..., :3] / np.float32(255.0), factor)
    shaded = mesh.texture.copy()
    shaded[..., :3] = np.round(rgb * 255.0).astype(np.uint8)
    return shaded


def base_colour_vertices(mesh: TexturedMesh) -> np.ndarray:
    """(V, 3) sRGB vertex colours in [0, 1] darkened by the per-vertex `occlusion`."""
    colours = np.clip(mesh.vertex_colors.astype(np.float32), 0.0, 1.0)
    if mesh.occlusion is None:
        return colours
    return _darkened(colours, occlusion_factor(mesh.occlusion)[:, None])


def _darkened(srgb: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """sRGB colours (float32) times a linear-light factor, as float32 sRGB."""
    linear = srgb_to_linear(torch.from_numpy(np.asarray(srgb, dtype=np.float32)))
    return linear_to_srgb(linear * torch.from_numpy(np.asarray(factor, np.float32))).numpy()
