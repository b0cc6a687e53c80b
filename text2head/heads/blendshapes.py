"""Blendshape coefficients of the anny head, computed exactly as anny computes them.

anny's phenotype blendshapes are products of piecewise-linear weights of each phenotype
(e.g. "old male average-weight"), projected onto a compact basis; local changes split into a
positive and a negative target; facial actions are used as they are.
"""

from __future__ import annotations

import torch

# Anchors of anny's phenotype interpolation: age spans newborn (-1/3) to old (1); every other
# interpolated phenotype spans [0, 1] with evenly spaced variations.
AGE_RANGE = (-1 / 3, 1.0)
ANCESTRY = ("african", "asian", "caucasian")


def hat_weights(value: torch.Tensor, count: int, low: float, high: float) -> torch.Tensor:
    """(B, count) linear-interpolation weights of `value` between evenly spaced anchors."""
    anchors = torch.linspace(low, high, count, dtype=value.dtype, device=value.device)
    spacing = (high - low) / (count - 1)
    value = value.clamp(low, high)[:, None]
    return (1 - (value - anchors).abs() / spacing).clamp_min(0)


def variation_weights(
    phenotypes: dict[str, torch.Tensor], features: list[str]
) -> torch.Tensor:
    """(B, n_variations) weight of every phenotype variation, in anny's column order.

    `features` names the phenotype of each column (e.g. "age" five times); "race" columns take
    the normalised ancestry blend (uniform when all three are zero, as in anny).
    """
    columns = []
    for feature in dict.fromkeys(features):
        count = features.count(feature)
        if feature == "race":
            blend = torch.stack([phenotypes[k] for k in ANCESTRY], dim=1)
            total = blend.sum(dim=1, keepdim=True)
            uniform = torch.full_like(blend, 1 / 3)
            columns.append(torch.where(total > 0, blend / total.clamp_min(1e-12), uniform))
        else:
            low, high = AGE_RANGE if feature == "age" else (0.0, 1.0)
            columns.append(hat_weights(phenotypes[feature], count, low, high))
    return torch.cat(columns, dim=1)


def phenotype_products(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, K): each original phenotype blendshape's coefficient, the product of the variation
    weights its mask selects. Compact bases project these (anny: `@ projection`)."""
    selected = weights[:, None, :] * mask + (1 - mask)  # (B, K, n_variations)
    return selected.prod(dim=-1)


def local_change_coefficients(values: torch.Tensor) -> torch.Tensor:
    """(B, 2n): for each signed change, its positive part then its negative part."""
    positive = values * (values >= 0)
    negative = -values * (values < 0)
    return torch.stack([positive, negative], dim=-1).flatten(1)
