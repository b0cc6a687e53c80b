"""Where every texel of the UV atlas lies on the template head, at any texture size.

Skin zones, wrinkles and the eyes' polar coordinates are functions of the 3D template
position, so they are continuous across UV seams and keep their size in millimetres whatever
the texture size. The rasterizer here is vectorized over triangles (a per-triangle loop costs
about a second per size, too slow to run when a model is created).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def rasterize_corners(corner_uvs: np.ndarray, corner_values: np.ndarray,
                      size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, C) barycentric blend of `corner_values` (F, 3, C) over the UV triangles
    and the (size, size) bool coverage; row 0 is v = 1. Uncovered texels copy the nearest
    covered one, so that bilinear lookups and finite differences at island borders stay sane."""
    pixels = np.stack([corner_uvs[..., 0] * size - 0.5,
                       (1.0 - corner_uvs[..., 1]) * size - 0.5], axis=-1)  # (F, 3, 2)
    lo = np.floor(pixels.min(axis=1)).astype(int)
    span = (np.ceil(pixels.max(axis=1)).astype(int) - lo).max(axis=1)
    a, b, c = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    det = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    keep = np.abs(det) > 1e-12
    image = np.zeros((size, size, corner_values.shape[-1]), np.float32)
    covered = np.zeros((size, size), bool)
    # Triangles grouped by bounding-box size, each group tested against every texel of its
    # boxes at once (as wide arrays: a loop over texel offsets would be bound by overhead).
    for low, high in ((0, 2), (3, 5), (6, 11), (12, 23), (24, 47), (48, size)):
        group = np.nonzero(keep & (span >= low) & (span <= high))[0]
        if not len(group):
            continue
        reach = np.arange(int(span[group].max()) + 1)
        offset_x, offset_y = (o.ravel() for o in np.meshgrid(reach, reach))
        x = lo[group, 0, None] + offset_x
        y = lo[group, 1, None] + offset_y
        px, py = x - a[group, 0, None], y - a[group, 1, None]
        ca, ba, d = (c - a)[group, :, None], (b - a)[group, :, None], det[group, None]
        w1 = (px * ca[:, 1] - py * ca[:, 0]) / d
        w2 = (ba[:, 0] * py - ba[:, 1] * px) / d
        weights = np.stack([1 - w1 - w2, w1, w2], axis=-1)  # (n, offsets, 3)
        inside = (weights >= -1e-6).all(axis=-1) & (x >= 0) & (y >= 0) & (x < size) & (
            y < size)
        triangle = np.broadcast_to(group[:, None], x.shape)[inside]
        image[y[inside], x[inside]] = np.einsum("nk,nkc->nc", weights[inside],
                                                corner_values[triangle])
        covered[y[inside], x[inside]] = True
    nearest = ndimage.distance_transform_edt(~covered, return_distances=False,
                                             return_indices=True)
    return image[nearest[0], nearest[1]], covered
