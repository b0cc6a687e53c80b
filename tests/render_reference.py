"""Independent references for the renderer tests: camera rays built from the look-at definition
and a brute-force Moller-Trumbore ray caster in numpy (trimesh's ray queries need rtree, which
is not a dependency)."""

from __future__ import annotations

import numpy as np
import trimesh


def orbit_rays(yaw: float, pitch: float, distance: float, fov: float, height: int,
               width: int) -> tuple[np.ndarray, np.ndarray]:
    """Origin (3,) and unit directions (H * W, 3) through the pixel centres of an orbit camera."""
    yaw_rad, pitch_rad = np.radians(yaw), np.radians(pitch)
    eye = distance * np.array([np.cos(pitch_rad) * np.sin(yaw_rad), np.sin(pitch_rad),
                               np.cos(pitch_rad) * np.cos(yaw_rad)])
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    half = np.tan(np.radians(fov) / 2)
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    sx = (2 * xs / width - 1) * half * width / height
    sy = (1 - 2 * ys / height) * half
    directions = forward + sx.reshape(-1, 1) * right + sy.reshape(-1, 1) * up
    return eye, directions / np.linalg.norm(directions, axis=1, keepdims=True)


def first_hits(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray,
               directions: np.ndarray, front_only: bool = False) -> np.ndarray:
    """Index of the first triangle each ray hits (-1 for none); optionally front faces only."""
    hits = np.full(len(directions), -1)
    for rays, t, _, _, det in _ray_chunks(vertices, faces, origin, directions):
        if front_only:
            t = np.where(det > 0, t, np.inf)  # counter-clockwise seen from the ray's origin
        hits[rays] = _nearest(t)
    return hits


def alpha_tested_hits(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray,
                      directions: np.ndarray, cutout_faces: np.ndarray, corner_uvs: np.ndarray,
                      alpha: np.ndarray, front_only: bool = False,
                      margin: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """First hits where a hit of a `cutout_faces` triangle counts only if the nearest texel of
    `alpha` (Ht, Wt; row 0 at v = 1) at its UV is at least 1/2; cut-out faces count from both
    sides. Also returns which rays pass a cut-out face within `margin` texels of a texel border,
    where float32 and float64 may pick different texels."""
    height, width = alpha.shape
    hits = np.full(len(directions), -1)
    ambiguous = np.zeros(len(directions), dtype=bool)
    for rays, t, u, v, det in _ray_chunks(vertices, faces, origin, directions):
        uv = ((1 - u - v)[..., None] * corner_uvs[:, 0] + u[..., None] * corner_uvs[:, 1]
              + v[..., None] * corner_uvs[:, 2])  # (R, F, 2)
        texel = np.nan_to_num(np.stack([uv[..., 0] * width, (1 - uv[..., 1]) * height], -1))
        column = np.clip(np.floor(texel[..., 0]), 0, width - 1).astype(int)
        row = np.clip(np.floor(texel[..., 1]), 0, height - 1).astype(int)
        transparent = alpha[row, column] < 0.5
        border = np.abs(texel - np.round(texel)).min(-1) < margin
        crossing = np.isfinite(t) & cutout_faces[None]
        ambiguous[rays] = (crossing & border).any(1)
        t = np.where(crossing & transparent, np.inf, t)
        if front_only:
            t = np.where((det > 0) | cutout_faces[None], t, np.inf)
        hits[rays] = _nearest(t)
    return hits, ambiguous


def _ray_chunks(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray,
                directions: np.ndarray, chunk: int = 256):
    """Moller-Trumbore for chunks of rays against all triangles: yields the chunk's ray slice
    and (R, F) hit distances t (inf where missed), barycentrics u, v and determinants."""
    corners = vertices[faces].astype(np.float64)
    v0, edge1, edge2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    to_origin = origin - v0  # (F, 3)
    q = np.cross(to_origin, edge1)  # (F, 3)
    for start in range(0, len(directions), chunk):
        d = directions[start:start + chunk, None, :]  # (R, 1, 3)
        p = np.cross(d, edge2)  # (R, F, 3)
        det = np.einsum("rfk,fk->rf", p, edge1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            u = np.einsum("rfk,fk->rf", p, to_origin) * inv
            v = np.einsum("rk,fk->rf", d[:, 0], q) * inv
            t = np.einsum("fk,fk->f", q, edge2)[None] * inv
        valid = (np.abs(det) > 1e-15) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        yield slice(start, start + chunk), np.where(valid, t, np.inf), u, v, det


def _nearest(t: np.ndarray) -> np.ndarray:
    """Per row of hit distances (R, F), the nearest triangle or -1."""
    return np.where(np.isfinite(t.min(1)), t.argmin(1), -1)


def head_stand_in() -> trimesh.Trimesh:
    """A closed head-sized ellipsoid with a nose, for tests that need no head model."""
    mesh = trimesh.creation.icosphere(subdivisions=4)
    vertices = mesh.vertices * [0.08, 0.12, 0.1]
    nose = np.exp(-((vertices[:, 0] / 0.02) ** 2 + (vertices[:, 1] / 0.03) ** 2))
    vertices[:, 2] += 0.03 * nose * (vertices[:, 2] > 0)
    return trimesh.Trimesh(vertices, mesh.faces, process=False)
