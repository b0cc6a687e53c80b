"""Per-vertex ambient occlusion of a head scene: without it nostrils, mouth corners, eye
sockets, the skin under a fringe, and above all eyes, teeth and the mouth's inside are as
bright as the cheeks (issue 16; recipe in research/realism.md §4).

Rays are cast with embree (trimesh's `ray_pyembree` over the `embreex` package); trimesh's
pure-Python fallback would take about half an hour per head. Occlusion is lighting data, so
it carries no gradient, and `OcclusionCache` bakes it only when the shape has changed enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch
import trimesh
from torch import Tensor

from text2head.geometry import vertex_normals

RAYS = 16  # cosine-weighted directions per vertex (occlusion is smooth; a bake is per shape)
REACH = 0.08  # metres (about a third of a head): hits this far away no longer occlude
ORIGIN_OFFSET = 1e-4  # metres along the normal, so a ray does not start inside its own faces
STEP = 1e-5  # metres a ray moves past a face it goes through
STRAND_OPACITY = 0.5  # hair, brows, lashes and beard shells let half the light through
MAX_LAYERS = 6  # faces followed along one ray (strand layers, the ray's own card)
JAW = "jawOpen"  # the expression whose two extremes are baked and blended
REFRESH_DISTANCE = 0.004  # metres a vertex may move before the bake is redone
CACHE_SIZE = 4  # heads kept (the run's head, a reference, a start head, ...)
ENDPOINT_TEXTURE_SIZE = 8  # the jaw extremes are decoded for geometry only


def ambient_occlusion(vertices: Tensor, faces: Tensor, strand_faces: Tensor,
                      rays: int = RAYS) -> Tensor:
    """(B, N) openness of each vertex of a scene, 1 = nothing around it, 0 = fully enclosed.

    `vertices` (B, N, 3) in metres, `faces` (F, 3), `strand_faces` (F,) bool (cut-out strand
    cards and shells, which occlude by half). Each vertex casts `rays` cosine-weighted rays
    around its normal; a hit at distance t occludes by 1 - (t / REACH)², times the opacity of
    what it hit and the light that got through the strand layers before it. Strand vertices
    face away from the origin (the head's centre in `HeadModel`'s frame), so a card's AO is
    that of its outer side, and they ignore their own card.
    """
    intersector = _embree_intersector()
    with torch.no_grad():
        normals = vertex_normals(vertices.detach(), faces).cpu().double().numpy()
    points = vertices.detach().cpu().double().numpy()
    faces_np = faces.cpu().numpy()
    face_card, vertex_card = card_ids(faces_np, strand_faces.cpu().numpy(), points.shape[1])
    opacity = np.where(face_card >= 0, STRAND_OPACITY, 1.0)
    directions = hemisphere(rays)
    baked = [_bake(intersector, p, n, faces_np, opacity, face_card, vertex_card, directions)
             for p, n in zip(points, normals, strict=True)]
    return torch.from_numpy(np.stack(baked)).to(vertices.device, vertices.dtype)


def hemisphere(rays: int) -> np.ndarray:
    """(rays, 3) Fibonacci directions around +z, cosine-weighted: equal area on the unit
    disc lifted to the hemisphere, so a plain mean of the hits is the cosine integral."""
    index = np.arange(rays) + 0.5
    radius = np.sqrt(index / rays)
    angle = index * np.pi * (3 - np.sqrt(5))
    return np.stack([radius * np.cos(angle), radius * np.sin(angle),
                     np.sqrt(1 - radius**2)], axis=1)


def card_ids(faces: np.ndarray, strand_faces: np.ndarray,
             n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Per face and per vertex, the strand card (connected piece of strand faces) it belongs
    to, -1 for opaque geometry."""
    strand = faces[strand_faces]
    edges = np.concatenate([strand[:, [0, 1]], strand[:, [1, 2]]])
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                                    shape=(n_vertices, n_vertices))
    _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    vertex_card = np.full(n_vertices, -1)
    vertex_card[strand.reshape(-1)] = label[strand.reshape(-1)]
    face_card = np.full(len(faces), -1)
    face_card[strand_faces] = label[strand[:, 0]]
    return face_card, vertex_card


def _embree_intersector():
    """trimesh's embree ray caster class, or a clear error when `embreex` is missing."""
    try:
        from trimesh.ray.ray_pyembree import RayMeshIntersector
    except ImportError as error:
        raise ImportError(
            "ambient occlusion needs the embreex ray caster (trimesh's pure-Python fallback "
            "takes about 30 minutes a head): python -m pip install embreex==4.4.0.post1"
        ) from error
    return RayMeshIntersector


def _bake(intersector, points: np.ndarray, normals: np.ndarray, faces: np.ndarray,
          opacity: np.ndarray, face_card: np.ndarray, vertex_card: np.ndarray,
          directions: np.ndarray) -> np.ndarray:
    """(N,) openness of one head's vertices (see `ambient_occlusion`)."""
    outward = (vertex_card >= 0) & ((normals * points).sum(1) < 0)
    normals = np.where(outward[:, None], -normals, normals)
    rays = len(directions)
    ray_dirs = np.einsum("sk,nkj->nsj", directions, _frames(normals)).reshape(-1, 3)
    origins = np.repeat(points + ORIGIN_OFFSET * normals, rays, axis=0)
    ray_card = np.repeat(vertex_card, rays)
    mesh = trimesh.Trimesh(points, faces, process=False)
    caster = intersector(mesh)
    corner, face_normal = mesh.triangles[:, 0], mesh.face_normals
    travelled = np.zeros(len(origins))
    light = np.ones(len(origins))  # what the strand layers hit so far let through
    occluded = np.zeros(len(origins))
    live = np.arange(len(origins))
    for _ in range(MAX_LAYERS):
        hit = caster.intersects_first(origins[live], ray_dirs[live])
        live, hit = live[hit >= 0], hit[hit >= 0]
        along = (ray_dirs[live] * face_normal[hit]).sum(1)
        safe = np.where(np.abs(along) > 1e-12, along, 1.0)
        t = np.where(np.abs(along) > 1e-12,
                     ((corner[hit] - origins[live]) * face_normal[hit]).sum(1) / safe, 0.0)
        distance = travelled[live] + np.maximum(t, 0.0)
        near = distance < REACH
        live, hit, t, distance = live[near], hit[near], t[near], distance[near]
        own = (face_card[hit] == ray_card[live]) & (ray_card[live] >= 0)
        counted, alpha = live[~own], opacity[hit[~own]]
        occluded[counted] += light[counted] * alpha * (1 - (distance[~own] / REACH) ** 2)
        light[counted] *= 1 - alpha
        onward = own | (opacity[hit] < 1)
        live, t = live[onward], np.maximum(t[onward], 0.0)
        origins[live] += ray_dirs[live] * (t + STEP)[:, None]
        travelled[live] = distance[onward] + STEP
        if not len(live):
            break
    return 1 - occluded.reshape(-1, rays).mean(axis=1)


def _frames(normals: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rows tangent, bitangent, normal: an orthonormal frame per unit normal
    without branches (Duff et al. 2017, "Building an Orthonormal Basis, Revisited")."""
    x, y, z = normals.T
    sign = np.where(z >= 0, 1.0, -1.0)
    a = -1 / (sign + z)
    b = x * y * a
    tangent = np.stack([1 + sign * x * x * a, sign * b, -sign * x], axis=1)
    bitangent = np.stack([b, sign + y * y * a, -y], axis=1)
    return np.stack([tangent, bitangent, normals], axis=1)


@dataclass(eq=False)  # entries are told apart by identity
class _Bake:
    """One head's occlusion at both jaw extremes and the geometry it was baked for, in the
    head's own frame (pose removed: occlusion does not change when the whole head turns)."""

    faces: Tensor
    strand_faces: Tensor
    jaw: Tensor  # (B,) jawOpen of the head the bake was made for
    shape: Tensor  # (B, N, 3) that head's vertices
    jaw_step: Tensor  # (B, N, 3) how far each vertex moves from jaw closed to open
    closed: Tensor  # (B, N) occlusion with jawOpen 0
    opened: Tensor  # (B, N) occlusion with jawOpen 1

    def fits(self, faces: Tensor, strand_faces: Tensor, shape: Tensor, jaw: Tensor,
             refresh: float) -> bool:
        """Same topology and every vertex within `refresh` metres of where the baked head's
        would be at this jaw (the jaw moves vertices almost linearly)."""
        if (faces.device != self.faces.device or faces.shape != self.faces.shape
                or shape.shape != self.shape.shape
                or not torch.equal(faces, self.faces)
                or not torch.equal(strand_faces, self.strand_faces)):
            return False
        expected = self.shape + (jaw - self.jaw)[:, None, None] * self.jaw_step
        return bool((shape - expected).norm(dim=-1).max() <= refresh)

    def occlusion(self, jaw: Tensor) -> Tensor:
        """(B, N) the two extremes blended by the jaw's opening."""
        return self.closed + jaw[:, None] * (self.opened - self.closed)


class OcclusionCache:
    """Ambient occlusion for composed scenes, baked only when a head's shape has moved more
    than `refresh` metres since its bake (a bake costs two geometry decodes and two ray
    casts; the optimizer composes a scene every step).

    A bake of a head whose jaw is open covers it with its jaw closed and fully open, and the
    occlusion is blended by jawOpen: the mouth's inside changes most as the jaw opens, and with
    both extremes baked, moving the jaw never forces a new bake on its own. A closed jaw bakes
    the scene as it is; opening it later by more than `REFRESH_DISTANCE` bakes both. The `size`
    most recently used bakes are kept, so a few heads can alternate; `bakes` counts them.
    An optimization run keeps a cache of its own with a larger `refresh`: its shape drifts a
    little every step, and its results must not depend on bakes left by other runs.
    """

    def __init__(self, model, scene_vertices: Callable, size: int = CACHE_SIZE,
                 refresh: float = REFRESH_DISTANCE):
        self.model = model
        self.scene_vertices = scene_vertices  # (decoded head) -> (B, N, 3) scene vertices
        self.size = size
        self.refresh = refresh
        self.bakes = 0
        self._jaw = model.specs["expression"].names.index(JAW)
        self._entries: list[_Bake] = []

    def __call__(self, head, vertices: Tensor, rotation: Tensor, faces: Tensor,
                 strand_faces: Tensor) -> Tensor:
        """(B, N) occlusion of a scene's `vertices` (B, N, 3), posed by `rotation` (B, 3, 3),
        made of `head` and its parts."""
        with torch.no_grad():
            jaw = head.expression[:, self._jaw].detach().to(vertices)
            shape = vertices.detach() @ rotation.detach()
            for entry in self._entries:
                if entry.fits(faces, strand_faces, shape, jaw, self.refresh):
                    self._entries.remove(entry)
                    self._entries.append(entry)
                    return entry.occlusion(jaw)
            entry = self._bake(head, faces, strand_faces, shape, jaw)
        self._entries = [*self._entries, entry][-self.size:]
        return entry.occlusion(jaw)

    def _bake(self, head, faces: Tensor, strand_faces: Tensor, shape: Tensor,
              jaw: Tensor) -> _Bake:
        self.bakes += 1
        if not bool(jaw.any()):
            # A closed jaw (most heads): the scene itself is the closed extreme, and the open
            # one is baked only once the jaw has moved enough to need it.
            closed = ambient_occlusion(shape, faces, strand_faces)
            return _Bake(faces, strand_faces, jaw, shape, torch.zeros_like(shape), closed,
                         closed)
        extremes = []
        for value in (0.0, 1.0):
            expression = head.expression.detach().clone()
            expression[:, self._jaw] = value
            decoded = self.model.decode(head.with_group("expression", expression),
                                        ENDPOINT_TEXTURE_SIZE)
            extremes.append(self.scene_vertices(decoded).to(shape) @ decoded.rotation.to(shape))
        closed, opened = ambient_occlusion(torch.cat(extremes), faces, strand_faces).split(
            len(shape))
        return _Bake(faces, strand_faces, jaw, shape, extremes[1] - extremes[0], closed, opened)
