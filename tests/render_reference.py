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
    corners = vertices[faces].astype(np.float64)
    v0, edge1, edge2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    to_origin = origin - v0  # (F, 3)
    hits = np.full(len(directions), -1)
    for start in range(0, len(directions), 256):
        d = directions[start:start + 256, None, :]  # (R, 1, 3)
        p = np.cross(d, edge2)  # (R, F, 3)
        det = np.einsum("rfk,fk->rf", p, edge1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            u = np.einsum("rfk,fk->rf", p, to_origin) * inv
            q = np.cross(to_origin, edge1)  # (F, 3)
            v = np.einsum("rk,fk->rf", d[:, 0], q) * inv
            t = np.einsum("fk,fk->f", q, edge2)[None] * inv
        valid = (np.abs(det) > 1e-15) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        if front_only:
            valid &= det > 0  # counter-clockwise seen from the ray's origin
        t = np.where(valid, t, np.inf)
        nearest = t.argmin(1)
        hits[start:start + 256] = np.where(np.isfinite(t.min(1)), nearest, -1)
    return hits


def head_stand_in() -> trimesh.Trimesh:
    """A closed head-sized ellipsoid with a nose, for tests that need no head model."""
    mesh = trimesh.creation.icosphere(subdivisions=4)
    vertices = mesh.vertices * [0.08, 0.12, 0.1]
    nose = np.exp(-((vertices[:, 0] / 0.02) ** 2 + (vertices[:, 1] / 0.03) ** 2))
    vertices[:, 2] += 0.03 * nose * (vertices[:, 2] > 0)
    return trimesh.Trimesh(vertices, mesh.faces, process=False)
