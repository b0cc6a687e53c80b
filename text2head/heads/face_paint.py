"""Soft UV masks for what is painted into the skin under thin cards: the brows' density
patch and the upper lash line, so both still read at 224 px where the cards are sub-pixel.

A mask is a Gaussian of the UV distance to a set of points (brow card roots projected to
their nearest skin vertex; the upper lid margin sampled along the eye openings' boundary
edges), its width set in millimetres and prefiltered to at least half a texel.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

BROW_WIDTH = 2.0e-3  # Gaussian sigma of the brow patch around the cards' footprint
LASH_WIDTH = 0.8e-3  # sigma of the lash line along the upper lid margin
EDGE_SAMPLES = 6  # points per boundary edge of the lid margin


def soft_points_mask(points_uv: np.ndarray, weights: np.ndarray, size: int,
                     sigma_texels: float) -> np.ndarray:
    """(size, size) weight of the nearest point times a Gaussian of its distance; the sigma
    is widened to half a texel at least and the peak lowered to keep the line's mass."""
    wide = np.hypot(sigma_texels, 0.5)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    texels = np.column_stack([cols.ravel(), rows.ravel()])
    pixels = np.column_stack([points_uv[:, 0] * size, (1 - points_uv[:, 1]) * size])
    distance, nearest = cKDTree(pixels).query(texels, distance_upper_bound=4 * wide)
    found = np.isfinite(distance)
    mask = np.zeros(size * size)
    mask[found] = weights[nearest[found]] * np.exp(-0.5 * (distance[found] / wide) ** 2)
    return (mask * sigma_texels / wide).reshape(size, size).astype(np.float32)


def upper_lid_margin(faces: np.ndarray, template: np.ndarray, vertex_uvs: np.ndarray,
                     skin: np.ndarray, eye_centres: np.ndarray, eye_radius: float):
    """UV points (N, 2) along the lid margins, weighted (N,) by how far up the margin they
    lie (0 at and below the eye corners' height, 1 on top). The skin is closed around the
    eyes (no boundary there), so the margin is where the lids rest on the eyeball: skin
    vertices within a millimetre of an eyeball's sphere, in front of its centre, and the
    mesh edges between them."""
    offset = template[:, None] - eye_centres[None]  # (V, eyes, 3)
    on_ball = (np.abs(np.linalg.norm(offset, axis=-1) - eye_radius) < 1e-3) & (
        offset[..., 2] > 0.65 * eye_radius)
    margin = skin & on_ball.any(axis=1)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges[margin[edges].all(axis=1)], axis=1), axis=0)
    steps = (np.arange(EDGE_SAMPLES) + 0.5) / EDGE_SAMPLES
    uvs = vertex_uvs[edges[:, 0], None] + steps[:, None] * (vertex_uvs[edges[:, 1]]
                                                            - vertex_uvs[edges[:, 0]])[:, None]
    heights = template[edges[:, 0], 1, None] + steps * (template[edges[:, 1], 1]
                                                        - template[edges[:, 0], 1])[:, None]
    rise = (heights - eye_centres[:, 1].mean()) / 0.004
    return uvs.reshape(-1, 2), np.clip(rise, 0, 1).ravel()


def nearest_skin_uvs(points: np.ndarray, skin_vertices: np.ndarray,
                     skin_uvs: np.ndarray) -> np.ndarray:
    """(N, 2) UV of the skin vertex nearest to each 3D point (N, 3)."""
    return skin_uvs[cKDTree(skin_vertices).query(points)[1]]
