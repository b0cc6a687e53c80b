"""Regularisers that keep an optimized head plausible; each returns a scalar to weight.

They are separate from CLIP so that a person can see and tune each one: a prior weight of 0
switches a term off, a large weight pins its group to the neutral (or starting) head.
"""

from __future__ import annotations

import torch

from text2head.heads import HeadModel, HeadParams
from text2head.heads.appearance import upsample_pyramid

MIRROR_X = (-1.0, 1.0, 1.0)


def group_priors(model: HeadModel, head: HeadParams) -> dict[str, torch.Tensor]:
    """Per group, the mean half squared distance to neutral in prior-sd units, and the
    residual's mean squared value (its neutral is zero)."""
    energy = {f"prior_{name}": value.mean() for name, value in model.prior_energy(head).items()}
    energy["prior_texture"] = torch.stack([(grid**2).mean() for grid in head.texture]).sum()
    return energy


def expression_sparsity(head: HeadParams) -> torch.Tensor:
    """L1 norm of the expression weights: few blendshapes at a time, like a real expression."""
    return head.expression.abs().sum(dim=1).mean()


def texture_smoothness(head: HeadParams, size: int = 256) -> torch.Tensor:
    """Total variation of the upsampled residual: painted detail stays smooth, not noise."""
    residual = upsample_pyramid(head.texture, size)
    dx = (residual[..., :, 1:] - residual[..., :, :-1]).abs().mean()
    dy = (residual[..., 1:, :] - residual[..., :-1, :]).abs().mean()
    return dx + dy


def shape_symmetry(model: HeadModel, rest_vertices: torch.Tensor) -> torch.Tensor:
    """Mean squared distance (in cm²) between each vertex and its mirrored partner."""
    centred = rest_vertices - rest_vertices.mean(dim=1, keepdim=True)
    mirrored = centred[:, model.mirror_index] * centred.new_tensor(MIRROR_X)
    return 1e4 * ((centred - mirrored) ** 2).sum(dim=-1).mean()


def texture_symmetry(model: HeadModel, vertex_colors: torch.Tensor) -> torch.Tensor:
    """Mean squared colour difference between mirrored vertices."""
    return ((vertex_colors - vertex_colors[:, model.mirror_index]) ** 2).sum(dim=-1).mean()


def identity_preservation(model: HeadModel, head: HeadParams, start: HeadParams) -> torch.Tensor:
    """Squared distance to the starting head in prior-sd units (edit mode), plus the residual."""
    total = head.identity.new_zeros(())
    for name, value in head.groups():
        spec = model.specs[name]
        z = (value - getattr(start, name)) / spec.column("prior_sd", value)
        total = total + 0.5 * (z**2).sum(dim=1).mean()
    for grid, start_grid in zip(head.texture, start.texture, strict=True):
        total = total + ((grid - start_grid) ** 2).mean()
    return total
