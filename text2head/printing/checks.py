"""Checks that a bust will slice and print: closed, one body, no self-intersections, flat base,
the requested size, and the face as the head model made it.

Used by the tests and `bench/printable.py`; each check is plain numpy/scipy so that it does not
trust the code that built the mesh.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from text2head.printing.bust import Bust
from text2head.printing.field import point_triangle_distance

FACE_DEPTH_M = 0.045  # the face: front-facing skin within this depth of the nose tip


def check_bust(bust: Bust, sample: int | None = 5000, seed: int = 0) -> dict[str, float | bool]:
    """The checks' results by name (see `self_intersections` for `sample`)."""
    mesh = bust.mesh
    down = (mesh.face_normals[:, 2] < -0.9) & (mesh.triangles_center[:, 2] < bust.options.voxel_mm)
    base = mesh.vertices[np.unique(mesh.faces[down]), 2]
    return {
        "watertight": bool(mesh.is_watertight),
        "winding_consistent": bool(mesh.is_winding_consistent),
        "is_volume": bool(mesh.is_volume),
        "bodies": int(mesh.body_count),
        "self_intersections": self_intersections(mesh, sample, seed),
        "triangles": len(mesh.faces),
        "height_mm": float(np.ptp(mesh.vertices[:, 2])),
        "base_flatness_mm": float(np.ptp(base)) if len(base) else float("nan"),
        "volume_mm3": float(mesh.volume),
    }


def face_distance_mm(bust: Bust, model, head) -> float:
    """Mean distance (mm) from the head model's face (front-facing skin within FACE_DEPTH_M of
    the nose tip: the face above the chin, not the neck) to the bust's surface."""
    with torch.no_grad():
        decoded = model.decode(head.select(0))
    skin = model.skin_mask.cpu().numpy()
    vertices = decoded.vertices[0].cpu().numpy()[skin]
    normals = decoded.normals[0].cpu().numpy()[skin]
    face = (normals[:, 2] > 0.5) & (vertices[:, 2] > vertices[:, 2].max() - FACE_DEPTH_M)
    return float(distance_to_surface(bust.to_print_frame(vertices[face]), bust.mesh).mean())


def distance_to_surface(points: np.ndarray, mesh: trimesh.Trimesh, neighbours: int = 8
                        ) -> np.ndarray:
    """Distance from each point to the mesh: exact over the faces around its nearest vertices
    (the nearest face always touches one of them on a mesh of even triangles)."""
    _, nearest = cKDTree(mesh.vertices).query(points, k=neighbours)
    vertex_faces = mesh.vertex_faces  # (V, max valence), -1 padded
    candidates = vertex_faces[nearest].reshape(len(points), -1)
    owner = np.repeat(np.arange(len(points)), candidates.shape[1])
    faces = candidates.reshape(-1)
    owner, faces = owner[faces >= 0], faces[faces >= 0]
    corners = mesh.vertices[mesh.faces[faces]]
    distance = point_triangle_distance(*(torch.from_numpy(array) for array in (
        points[owner] - corners[:, 0], corners[:, 1] - corners[:, 0],
        corners[:, 2] - corners[:, 0]))).numpy()
    best = np.full(len(points), np.inf)
    np.minimum.at(best, owner, distance)
    return best


def self_intersections(mesh: trimesh.Trimesh, sample: int | None = 5000, seed: int = 0) -> int:
    """Pairs of faces that cross each other, among `sample` random faces (all with None) and
    every face near them that shares no vertex with them."""
    faces, vertices = mesh.faces, mesh.vertices
    chosen = np.arange(len(faces)) if sample is None or sample >= len(faces) else \
        np.random.default_rng(seed).choice(len(faces), sample, replace=False)
    triangles = vertices[faces]
    centroids = triangles.mean(axis=1)
    reach = np.linalg.norm(triangles - centroids[:, None], axis=2).max(axis=1)  # circumradius+
    near = cKDTree(centroids).query_ball_point(centroids[chosen], reach[chosen] + reach.max())
    first = np.repeat(chosen, [len(n) for n in near])
    second = np.concatenate([np.asarray(n, dtype=np.int64) for n in near])
    shared = (faces[first][:, :, None] == faces[second][:, None, :]).any(axis=(1, 2))
    first, second = first[~shared], second[~shared]
    crossing = np.zeros(len(first), dtype=bool)
    for a, b in ((first, second), (second, first)):
        for corner in range(3):
            start, end = triangles[a, corner], triangles[a, (corner + 1) % 3]
            crossing |= _segment_hits_triangle(start, end, triangles[b])
    return int(crossing.sum())


def _segment_hits_triangle(start: np.ndarray, end: np.ndarray, triangles: np.ndarray,
                           eps: float = 1e-9) -> np.ndarray:
    """Segments that pass through the inside of triangles (Moller-Trumbore, strict: touching
    at an edge or an end point does not count)."""
    direction = end - start
    edge1, edge2 = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    p = np.cross(direction, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    ok = np.abs(det) > eps
    inverse = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    offset = start - triangles[:, 0]
    u = np.einsum("ij,ij->i", offset, p) * inverse
    q = np.cross(offset, edge1)
    v = np.einsum("ij,ij->i", direction, q) * inverse
    t = np.einsum("ij,ij->i", edge2, q) * inverse
    tol = 1e-7
    return ok & (u > tol) & (v > tol) & (u + v < 1 - tol) & (t > tol) & (t < 1 - tol)


def winding_number(points: np.ndarray, mesh: trimesh.Trimesh, chunk: int = 4) -> np.ndarray:
    """Generalised winding number of points (1 inside a closed outward mesh, 0 outside), from
    the solid angles of all faces (Van Oosterom and Strackee)."""
    result = np.empty(len(points))
    triangles = mesh.vertices[mesh.faces]
    for begin in range(0, len(points), chunk):
        corners = triangles[None] - points[begin:begin + chunk, None, None]  # (P, F, 3, 3)
        a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        numerator = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        denominator = (la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc
                       + np.einsum("pfi,pfi->pf", b, c) * la + np.einsum("pfi,pfi->pf", c, a) * lb)
        result[begin:begin + chunk] = np.arctan2(numerator, denominator).sum(axis=1) / (2 * np.pi)
    return result
