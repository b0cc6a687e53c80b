"""Readers for MakeHuman proxy assets: the `.mhclo` binding and the `.obj` cards it binds.

A `.mhclo` places every vertex of its `.obj` on MakeHuman's `hm08` base mesh: three base
vertices with weights plus an offset whose x, y and z parts are scaled by the distance
between two reference base vertices (so offsets grow and shrink with the head). Used by the
asset builder only; the runtime reads the distilled arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

AXES = ("x", "y", "z")


@dataclass(frozen=True)
class ProxyBinding:
    """How each proxy vertex follows the base mesh (hm08 indices, base.obj units)."""

    indices: np.ndarray  # (P, 3) int64 base vertices
    weights: np.ndarray  # (P, 3) float64
    offsets: np.ndarray  # (P, 3) float64, base.obj units before scaling
    scale_refs: np.ndarray  # (3, 2) int64: per axis, the two base vertices whose distance...
    scale_lengths: np.ndarray  # (3,) float64: ...divided by this length scales the offsets

    def fit(self, base: np.ndarray) -> np.ndarray:
        """Proxy vertex positions (P, 3) on base vertices (N, 3) in base.obj's axes."""
        scale = np.abs(base[self.scale_refs[:, 0], np.arange(3)]
                       - base[self.scale_refs[:, 1], np.arange(3)]) / self.scale_lengths
        return np.einsum("pk,pkc->pc", self.weights, base[self.indices]) + self.offsets * scale


@dataclass(frozen=True)
class ProxyMesh:
    """A proxy's triangles and per-corner UVs, in the `.obj`'s vertex order."""

    faces: np.ndarray  # (F, 3) int64
    corner_uvs: np.ndarray  # (F, 3, 2) float32


def read_mhclo(path: str | Path) -> tuple[ProxyBinding, str]:
    """The binding and the name of the `.obj` it belongs to."""
    scale_refs, scale_lengths = {}, {}
    rows: list[list[float]] = []
    obj_file = None
    in_verts = False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if in_verts and _is_number(words[0]):
            rows.append(_binding_row(words))
            continue
        key = words[0]
        if key in ("verts", "delete_verts"):  # tags may sit between `verts` and its rows
            in_verts = key == "verts"
        elif key == "obj_file":
            obj_file = words[1]
        elif key in ("x_scale", "y_scale", "z_scale"):
            axis = AXES.index(key[0])
            scale_refs[axis] = (int(words[1]), int(words[2]))
            scale_lengths[axis] = float(words[3])
    if obj_file is None or len(scale_refs) != 3 or not rows:
        raise ValueError(f"{path}: not a complete .mhclo (obj_file, x/y/z_scale and verts)")
    table = np.asarray(rows)
    return ProxyBinding(
        indices=table[:, :3].astype(np.int64),
        weights=table[:, 3:6],
        offsets=table[:, 6:9],
        scale_refs=np.array([scale_refs[a] for a in range(3)], dtype=np.int64),
        scale_lengths=np.array([scale_lengths[a] for a in range(3)]),
    ), obj_file


def read_obj(path: str | Path) -> ProxyMesh:
    """Triangulated faces (quads split along their first diagonal) and per-corner UVs."""
    uvs: list[list[float]] = []
    faces: list[list[int]] = []
    corner_uvs: list[list[int]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "vt":
            uvs.append([float(words[1]), float(words[2])])
        elif words[0] == "f":
            corners = [word.split("/") for word in words[1:]]
            vertex = [int(c[0]) - 1 for c in corners]
            texture = [int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners]
            for k in range(1, len(corners) - 1):  # a fan: quads become two triangles
                faces.append([vertex[0], vertex[k], vertex[k + 1]])
                corner_uvs.append([texture[0], texture[k], texture[k + 1]])
    uv_table = np.asarray(uvs + [[0.0, 0.0]], dtype=np.float32)  # -1 (no UV) reads (0, 0)
    return ProxyMesh(np.asarray(faces, dtype=np.int64), uv_table[np.asarray(corner_uvs)])


def _binding_row(words: list[str]) -> list[float]:
    """`i j k wi wj wk dx dy dz`, or a single index meaning 'exactly on that vertex'."""
    if len(words) == 1:
        index = int(words[0])
        return [index, index, index, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    if len(words) != 9:
        raise ValueError(f"unexpected .mhclo vertex line: {' '.join(words)}")
    return [float(word) for word in words]


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
