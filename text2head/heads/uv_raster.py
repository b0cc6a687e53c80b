"""Rasterize per-corner attributes into UV space (build time only, numpy).

Used to turn geometric facts (which texels belong to an eye, where the cheeks are) into
texture-space masks that line up with the MakeHuman UV atlas.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return UVRaster.of(corner_uvs, size).rasterize(corner_values, fill, pad)


@dataclass(frozen=True)
class UVRaster:
    """Which face covers each covered texel of a UV layout, with its barycentric weights:
    found once per layout and size (a loop over the faces), after which any per-corner
    attribute is rasterized with one gather (an export's occlusion texture every time)."""

    size: int
    rows: np.ndarray  # (N,) texel row of each covered texel
    cols: np.ndarray  # (N,)
    faces: np.ndarray  # (N,) the face covering it (the last one drawn, where faces overlap)
    weights: np.ndarray  # (N, 3) barycentric weights of the face's corners

    @classmethod
    def of(cls, corner_uvs: np.ndarray, size: int) -> UVRaster:
        pixels = np.stack([corner_uvs[..., 0] * size - 0.5,
                           (1.0 - corner_uvs[..., 1]) * size - 0.5], axis=-1)
        rows, cols, faces, weights = [], [], [], []
        for face, triangle in enumerate(pixels):
            lo = np.maximum(np.floor(triangle.min(axis=0)).astype(int), 0)
            hi = np.minimum(np.ceil(triangle.max(axis=0)).astype(int), size - 1)
            if (hi < lo).any():
                continue
            xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
            found = _barycentric(triangle, np.stack([xs.ravel(), ys.ravel()], axis=-1))
            if found is None:
                continue
            inside = (found >= -1e-6).all(axis=1)
            rows.append(ys.ravel()[inside])
            cols.append(xs.ravel()[inside])
            faces.append(np.full(inside.sum(), face))
            weights.append(found[inside])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        # Where faces overlap, the one drawn last keeps the texel.
        last = len(rows) - 1 - np.unique((rows * size + cols)[::-1], return_index=True)[1]
        return cls(size, rows[last], cols[last], np.concatenate(faces)[last],
                   np.concatenate(weights)[last])

    def rasterize(self, corner_values: np.ndarray, fill: float = 0.0,
                  pad: int = 2) -> np.ndarray:
        """(size, size, C) image of `corner_values` (F, 3, C); see `rasterize_uv_attribute`."""
        image = np.full((self.size, self.size, corner_values.shape[-1]), fill, dtype=np.float32)
        image[self.rows, self.cols] = np.einsum("nk,nkc->nc", self.weights,
                                                corner_values[self.faces])
        covered = np.zeros((self.size, self.size), dtype=bool)
        covered[self.rows, self.cols] = True
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
