"""Per-vertex tangent frames from UVs, for tangent-space normal maps in exports.

A normal map's red and green channels are offsets along the surface's +u and +v directions;
viewers rebuild that frame from the TANGENT attribute (xyz = +u, w = the sign that turns
cross(normal, tangent) into +v). Each face's exact (u, v) frame is summed per vertex (as
Lengyel's method; MikkTSpace differs only in weighting), then made orthogonal to the normal.
"""

from __future__ import annotations

import numpy as np

_DEGENERATE = 1e-12  # UV area below which a face has no usable (u, v) frame


def vertex_tangents(positions: np.ndarray, normals: np.ndarray, uvs: np.ndarray,
                    faces: np.ndarray) -> np.ndarray:
    """(N, 4) float32 unit tangents with handedness w = +-1 (glTF's TANGENT).

    `uvs` are per vertex with v pointing up in the image (the OBJ convention), so that +v is
    the normal map's +Y. Vertices whose faces have no UV extent get some unit tangent
    perpendicular to their normal (their normal map texels are a constant anyway).
    """
    p = positions.astype(np.float64)[faces]
    t = uvs.astype(np.float64)[faces]
    edges, deltas = p[:, 1:] - p[:, :1], t[:, 1:] - t[:, :1]  # (F, 2, 3), (F, 2, 2)
    area = deltas[:, 0, 0] * deltas[:, 1, 1] - deltas[:, 1, 0] * deltas[:, 0, 1]
    usable = np.abs(area) > _DEGENERATE
    inverse = np.where(usable, 1.0 / np.where(usable, area, 1.0), 0.0)[:, None]
    face_u = (edges[:, 0] * deltas[:, 1, 1:] - edges[:, 1] * deltas[:, 0, 1:]) * inverse
    face_v = (edges[:, 1] * deltas[:, 0, :1] - edges[:, 0] * deltas[:, 1, :1]) * inverse
    along_u, along_v = (np.zeros((len(positions), 3)) for _ in range(2))
    for corner in range(3):
        np.add.at(along_u, faces[:, corner], face_u)
        np.add.at(along_v, faces[:, corner], face_v)

    n = normals.astype(np.float64)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    tangent = along_u - n * (n * along_u).sum(axis=1, keepdims=True)
    length = np.linalg.norm(tangent, axis=1, keepdims=True)
    tangent = np.where(length > 1e-12, tangent / np.maximum(length, 1e-300),
                       _any_perpendicular(n))
    handedness = np.where((np.cross(n, tangent) * along_v).sum(axis=1) < 0, -1.0, 1.0)
    return np.column_stack([tangent, handedness]).astype(np.float32)


def _any_perpendicular(normals: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to each unit normal (crossed with its least aligned axis)."""
    axis = np.eye(3)[np.abs(normals).argmin(axis=1)]
    perpendicular = np.cross(normals, axis)
    return perpendicular / np.linalg.norm(perpendicular, axis=1, keepdims=True)
