"""The surfaces a bust is made of: a head's parts, split into closed bodies and open cards.

A closed body (skin, eyeball) has an inside; an open card (hair strip, brow) has none and is
printed as a shell of minimum wall thickness around it. Parts are told apart by topology,
not by name, so parts added later work without changes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from text2head.mesh import TexturedMesh

# Named parts that are not printed: eyelashes are sub-millimetre fins at any bust size, and
# thickened to a printable wall they would glue the eyelids into a ridge.
DROPPED_PARTS = frozenset({"eyelashes"})

Part = TexturedMesh | tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Surface:
    """One connected piece of a part: vertices (metres) and faces."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    part: str


@dataclass(frozen=True)
class SortedParts:
    closed: list[Surface]  # outward-wound (positive volume)
    open: list[Surface]
    included: list[str]
    dropped: list[str]
    head_caps: np.ndarray | None  # (N, 3) vertices of faces the model added to close the head


def bust_parts(model, head) -> list[TexturedMesh]:
    """The parts of a head, head first (`model.to_meshes`). A small texture is enough:
    printing reads geometry only."""
    return list(model.to_meshes(head, texture_size=64))


def part_name(part: Part, index: int) -> str:
    name = getattr(part, "name", None)
    return str(name) if name else ("head" if index == 0 else f"part{index}")


def sort_parts(parts: Sequence[Part]) -> SortedParts:
    """Split every part into connected surfaces and sort them into closed and open ones.

    Raises ValueError when there are no parts, a part is malformed, or the first part (the
    head) has no closed surface to print.
    """
    if len(parts) == 0:
        raise ValueError("no parts to print: give at least the head mesh")
    closed, open_, included, dropped = [], [], [], []
    head_caps = None
    for index, part in enumerate(parts):
        name = part_name(part, index)
        if name in DROPPED_PARTS:
            dropped.append(name)
            continue
        vertices, faces = posed_geometry(part, name)
        included.append(name)
        pieces = [_surface(vertices, faces[mask], name) for mask in _components(faces)]
        for piece in pieces:
            if _is_closed(piece.faces):
                closed.append(_outward(piece))
            else:
                open_.append(piece)
        if index == 0:
            if not any(_is_closed(piece.faces) for piece in pieces):
                raise ValueError(f"the head part {name!r} has no closed surface: its neck and "
                                 "other holes must be capped to be printed")
            head_caps = _cap_vertices(part, vertices, faces)
    return SortedParts(closed, open_, included, dropped, head_caps)


def posed_geometry(part: Part, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices with the part's current morph weights applied (a TexturedMesh stores the
    expression as morph targets on a neutral base) and its faces, checked."""
    if isinstance(part, TexturedMesh):
        vertices = part.vertices.astype(np.float64)
        if part.morph_names:
            vertices = vertices + np.einsum("k,kvc->vc", part.morph_weights.astype(np.float64),
                                            part.morph_deltas.astype(np.float64))
        faces = part.faces
    else:
        vertices, faces = (np.asarray(array) for array in part)
        vertices = vertices.astype(np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"part {name!r}: vertices must be (V, 3) and faces (F, 3), got "
                         f"{vertices.shape} and {faces.shape}")
    if len(faces) == 0:
        raise ValueError(f"part {name!r} has no faces")
    if not np.isfinite(vertices).all():
        raise ValueError(f"part {name!r}: vertices contain NaN or inf")
    faces = faces.astype(np.int64)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"part {name!r}: faces index vertices that do not exist")
    return vertices, faces


def _components(faces: np.ndarray) -> list[np.ndarray]:
    """Boolean face masks of the connected pieces (faces sharing a vertex are connected)."""
    n_vertices = int(faces.max()) + 1
    rows = np.repeat(faces[:, 0], 2)
    cols = faces[:, 1:].reshape(-1)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_vertices, n_vertices))
    _, labels = connected_components(graph, directed=False)
    face_labels = labels[faces[:, 0]]
    return [face_labels == label for label in np.unique(face_labels)]


def _surface(vertices: np.ndarray, faces: np.ndarray, name: str) -> Surface:
    used, local = np.unique(faces, return_inverse=True)
    return Surface(vertices[used], local.reshape(faces.shape), name)


def _is_closed(faces: np.ndarray) -> bool:
    """True when every edge is used once in each direction: closed and consistently wound."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    if len(np.unique(directed, axis=0)) != len(directed):
        return False
    undirected = np.sort(directed, axis=1)
    _, counts = np.unique(undirected, axis=0, return_counts=True)
    return bool((counts == 2).all())


def _outward(surface: Surface) -> Surface:
    """Flip a closed surface wound inside-out, so that crossings count +1 inside."""
    corners = surface.vertices[surface.faces]
    volume = np.einsum("fi,fi->f", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum()
    if volume >= 0:
        return surface
    return Surface(surface.vertices, surface.faces[:, ::-1].copy(), surface.part)


def _cap_vertices(part: Part, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray | None:
    """Vertices of the lowest fan of faces whose UVs collapse to one point: the model's cap
    over the neck opening (see `text2head.heads.build.cap_loops`). None without UVs or caps."""
    if not isinstance(part, TexturedMesh):
        return None
    uvs = part.corner_uvs
    collapsed = (np.abs(uvs - uvs[:, :1]) < 1e-9).all(axis=(1, 2))
    if not collapsed.any():
        return None
    caps = faces[collapsed]
    lowest = min(_components(caps), key=lambda mask: vertices[caps[mask]][..., 1].mean())
    return vertices[np.unique(caps[lowest])]
