"""Independent references for the renderer tests: camera rays built from the look-at definition
and a brute-force Moller-Trumbore ray caster in numpy (trimesh's ray queries need rtree, which
is not a dependency); plus the one light rig the tests build by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import trimesh

from text2head.render import Lights
from text2head.render.lights import gradient_ambient


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


def composited_coverage(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray,
                        directions: np.ndarray, cutout_faces: np.ndarray, corner_uvs: np.ndarray,
                        alpha: np.ndarray, front_only: bool = False) -> np.ndarray:
    """Coverage (R,) of each ray through soft cards: ALL hits sorted by distance, each hit of a
    `cutout_faces` triangle (seen from both sides) weighted by the bilinear lookup of `alpha`
    (Ht, Wt; row 0 at v = 1, texel centres at (i + 1/2) / Wt, clamped at the edges) at its UV,
    composited front to back up to the first opaque hit, which covers what light is left.

    Hits at the same distance (a ray through an edge shared by two triangles of one card) are
    one crossing of the surface and count once.
    """
    coverage = np.zeros(len(directions))
    for rays, t, u, v, det in _ray_chunks(vertices, faces, origin, directions):
        if front_only:
            t = np.where((det > 0) | cutout_faces[None], t, np.inf)
        uv = ((1 - u - v)[..., None] * corner_uvs[:, 0] + u[..., None] * corner_uvs[:, 1]
              + v[..., None] * corner_uvs[:, 2])  # (R, F, 2)
        opacity = np.where(cutout_faces[None], _bilinear(alpha, np.nan_to_num(uv)), 1.0)
        order = np.argsort(t, axis=1)
        t, opacity = np.take_along_axis(t, order, 1), np.take_along_axis(opacity, order, 1)
        repeated = np.zeros_like(t, dtype=bool)
        repeated[:, 1:] = np.isclose(t[:, 1:], t[:, :-1], rtol=1e-9, atol=0)
        opacity = np.where(np.isfinite(t) & ~repeated, opacity, 0.0)
        coverage[rays] = 1 - np.prod(1 - opacity, axis=1)
    return coverage


def _bilinear(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup in a (Ht, Wt) texture at OBJ-convention UVs (..., 2), edge-clamped."""
    height, width = texture.shape
    x, y = uv[..., 0] * width - 0.5, (1 - uv[..., 1]) * height - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0

    def texel(column: np.ndarray, row: np.ndarray) -> np.ndarray:
        return texture[np.clip(row, 0, height - 1).astype(int),
                       np.clip(column, 0, width - 1).astype(int)]

    top = texel(x0, y0) * (1 - fx) + texel(x0 + 1, y0) * fx
    bottom = texel(x0, y0 + 1) * (1 - fx) + texel(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy


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


def simple_lights(elevation: float | None = None, azimuth: float = 0.0, color: float = 0.0,
                  ambient: float | Sequence[float] = 0.0, specular: float = 0.0,
                  dtype: torch.dtype = torch.float32) -> Lights:
    """One white light at the given angles (degrees, camera frame; None: no light) of linear
    intensity `color`, plus uniform ambient light whose irradiance / pi is `ambient` (grey or
    RGB), so that a surface of linear albedo a shows a * ambient from it."""
    e, a = math.radians(elevation or 0.0), math.radians(azimuth)
    direction = [math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)]
    level = torch.tensor(ambient, dtype=dtype).expand(1, 3)
    return Lights(torch.tensor([[direction]], dtype=dtype),
                  torch.full((1, 1, 3), color if elevation is not None else 0.0, dtype=dtype),
                  gradient_ambient(level, level), torch.tensor([specular], dtype=dtype))
