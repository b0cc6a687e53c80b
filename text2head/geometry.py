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


def fit_spheres(points: torch.Tensor) -> torch.Tensor:
    """Least-squares spheres (B, 4), centre and radius, through points (B, P, 3).

    |p|^2 = 2 c.p + (r^2 - |c|^2) is linear in c and the constant, so one least-squares
    solve fits it; it is exact for points on a sphere, also for a cap of one (an eyeball whose
    back is missing), and differentiable.
    """
    design = torch.cat([2 * points, torch.ones_like(points[..., :1])], dim=-1)  # (B, P, 4)
    target = (points**2).sum(-1, keepdim=True)
    solution = torch.linalg.lstsq(design, target).solution[..., 0]  # (B, 4)
    centre = solution[:, :3]
    radius = (solution[:, 3] + (centre**2).sum(-1)).clamp(min=0).sqrt()
    return torch.cat([centre, radius[:, None]], dim=1)
