"""Loss weights and learning rates that may change while a run is going.

A UI thread calls `LiveSettings.update(...)`; the optimization loop takes a `snapshot()` at
the start of every step, so a change takes effect at the next step and only in the run that
owns this object.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

# Weight of every loss term. 0 switches a term off.
DEFAULT_WEIGHTS: dict[str, float] = {
    "clip": 1.0,  # 1 - cos(image, prompt), mean over views and augmentations
    "negative": 0.3,  # cos to the negative prompt
    "directional": 0.0,  # CLIP change from the starting head vs text change from neutral
    "prior_identity": 0.02,  # squared distance to neutral, in prior standard deviations
    "prior_local_shape": 0.02,
    "prior_expression": 0.01,
    "prior_pose": 0.01,
    "prior_appearance": 0.01,
    "prior_hair": 0.01,  # hair colour, volume, length, brows, beard, teeth
    "prior_texture": 0.1,  # mean squared residual
    "expression_sparsity": 0.005,  # L1 of the expression weights
    "texture_smoothness": 0.5,  # total variation of the residual
    "shape_symmetry": 0.2,  # mirrored vertex distance, cm²
    "texture_symmetry": 0.5,  # mirrored vertex colour difference
    "identity_preservation": 0.0,  # distance to the starting head (edit mode)
}
# Adam learning rate per parameter group, in the group's own units per step.
DEFAULT_LEARNING_RATES: dict[str, float] = {
    "identity": 0.03,
    "local_shape": 0.05,
    "expression": 0.04,
    "pose": 0.5,
    "appearance": 0.03,
    "hair": 0.03,
    "texture": 0.05,
}


def check_values(values: Mapping[str, float], known: Mapping[str, float], kind: str) -> None:
    """Raise ValueError naming the entry if a name is unknown or a value is not a finite,
    non-negative number."""
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{kind} {name!r} must be a number, got {value!r}")
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{kind} {name!r} must be finite, got {value}")
        if value < 0:
            raise ValueError(f"{kind} {name!r} must be >= 0, got {value}")


class LiveSettings:
    """Thread-safe loss weights and learning rates for one run."""

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        learning_rates: Mapping[str, float] | None = None,
    ):
        self._lock = threading.Lock()
        self._weights = dict(DEFAULT_WEIGHTS)
        self._learning_rates = dict(DEFAULT_LEARNING_RATES)
        self.update(weights=weights or {}, learning_rates=learning_rates or {})

    def update(
        self,
        weights: Mapping[str, float] | None = None,
        learning_rates: Mapping[str, float] | None = None,
    ) -> None:
        """Change some weights and/or learning rates; all are checked before any is applied."""
        weights, learning_rates = dict(weights or {}), dict(learning_rates or {})
        check_values(weights, DEFAULT_WEIGHTS, "loss weight")
        check_values(learning_rates, DEFAULT_LEARNING_RATES, "learning rate")
        with self._lock:
            self._weights.update({k: float(v) for k, v in weights.items()})
            self._learning_rates.update({k: float(v) for k, v in learning_rates.items()})

    def snapshot(self) -> tuple[dict[str, float], dict[str, float]]:
        """Copies of (weights, learning rates) as they are now."""
        with self._lock:
            return dict(self._weights), dict(self._learning_rates)
