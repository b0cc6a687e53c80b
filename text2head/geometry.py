"""Mesh geometry shared by the head model and the renderer."""

from __future__ import annotations

import torch
from torch.nn.functional import normalize


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (B, V, 3) of vertices (B, V, 3).

    Gathers use index_select and sums use index_add, whose CPU gradients are deterministic
    (plain tensor indexing accumulates in a run-dependent order).
    """
    corners = vertices.index_select(1, faces.reshape(-1)).view(len(vertices), -1, 3, 3)
    face_normals = torch.linalg.cross(corners[:, :, 1] - corners[:, :, 0],
                                      corners[:, :, 2] - corners[:, :, 0])
    summed = torch.zeros_like(vertices)
    for k in range(3):
        summed = summed.index_add(1, faces[:, k], face_normals)
    return normalize(summed, dim=-1, eps=1e-12)
