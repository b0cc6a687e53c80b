"""A part's ambient occlusion baked into the colours every export format carries.

Viewers treat glTF's occlusionTexture differently: three.js and Babylon darken only ambient
and image-based light with it, Blender ignores it, and OBJ and PLY have no such map. So part
of the occlusion also darkens the albedo itself (texture and vertex colours), enough for the
cavities (nostrils, mouth corners, under the hair) to read everywhere, not so much that a
viewer that does apply the map darkens them twice as much as they should be.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from text2head.mesh import TexturedMesh

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
    rgb = srgb_from_linear(linear_from_srgb(mesh.texture[..., :3] / 255.0) * factor)
    shaded = mesh.texture.copy()
    shaded[..., :3] = np.round(rgb * 255.0).astype(np.uint8)
    return shaded


def base_colour_vertices(mesh: TexturedMesh) -> np.ndarray:
    """(V, 3) sRGB vertex colours in [0, 1] darkened by the per-vertex `occlusion`."""
    colours = np.clip(mesh.vertex_colors.astype(np.float32), 0.0, 1.0)
    if mesh.occlusion is None:
        return colours
    linear = linear_from_srgb(colours) * occlusion_factor(mesh.occlusion)[:, None]
    return srgb_from_linear(linear).astype(np.float32)


def linear_from_srgb(srgb: np.ndarray) -> np.ndarray:
    srgb = np.asarray(srgb, dtype=np.float32)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def srgb_from_linear(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
