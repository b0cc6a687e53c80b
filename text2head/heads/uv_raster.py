"""Rasterize per-corner attributes into UV space (build time only, numpy).

Used to turn geometric facts (which texels belong to an eye, where the cheeks are) into
texture-space masks that line up with the MakeHuman UV atlas.
"""

from __future__ import annotations

import numpy as np


def rasterize_uv_attribute(
    corner_uvs: np.ndarray, corner_values: np.ndarray, size: int, fill: float = 0.0,
    pad: int = 2,
) -> np.ndarray:
    """Image (size, size, C) of `corner_values` (F, 3, C) interpolated over UV triangles.

    Row 0 is the top of the image (v = 1). Texel centres inside a triangle take its
    barycentric blend; `pad` rings of empty texels around each island copy their nearest
    filled neighbour so that bilinear sampling at island borders does not bleed `fill` in.
    """
    n_channels = corner_values.shape[-1]
    image = np.full((size, size, n_channels), fill, dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    pixels = np.stack([corner_uvs[..., 0] * size - 0.5, (1.0 - corner_uvs[..., 1]) * size - 0.5],
                      axis=-1)
    for triangle, values in zip(pixels, corner_values, strict=True):
        lo = np.maximum(np.floor(triangle.min(axis=0)).astype(int), 0)
        hi = np.minimum(np.ceil(triangle.max(axis=0)).astype(int), size - 1)
        if (hi < lo).any():
            continue
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        weights = _barycentric(triangle, np.stack([xs.ravel(), ys.ravel()], axis=-1))
        if weights is None:
            continue
        inside = (weights >= -1e-6).all(axis=1)
        rows, cols = ys.ravel()[inside], xs.ravel()[inside]
        image[rows, cols] = weights[inside] @ values
        covered[rows, cols] = True
    return _pad_islands(image, covered, pad)


def _barycentric(triangle: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """Barycentric coordinates (N, 3) of points in a 2D triangle; None if degenerate."""
    a, b, c = triangle
    matrix = np.array([b - a, c - a]).T
    if abs(np.linalg.det(matrix)) < 1e-12:
        return None
    uv = np.linalg.solve(matrix, (points - a).T).T
    return np.column_stack([1.0 - uv.sum(axis=1), uv])


def _pad_islands(image: np.ndarray, covered: np.ndarray, rings: int) -> np.ndarray:
    """Grow every island by `rings` texels, copying values from covered neighbours."""
    for _ in range(rings):
        grown = covered.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            source = np.roll(covered, (dy, dx), axis=(0, 1))
            take = source & ~grown
            image[take] = np.roll(image, (dy, dx), axis=(0, 1))[take]
            grown |= take
        covered = grown
    return image
