"""A clip: keyframes of a head's morph weights, which is what a glTF animation carries.

Clips are built from sparse per-target curves (a blink is three keys, a breath a few), added
on top of a base pose, then sampled at the union of every curve's keys. Sampling a sum of
piecewise-linear curves at all their breakpoints is exact, so a viewer interpolating the
clip linearly shows the same motion as the curves, with no dense per-frame table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MERGE_SECONDS = 1e-4  # keys of different curves closer than this become one key


@dataclass(frozen=True, eq=False)
class Clip:
    """Morph weights (K, T) of `targets` at `times` (K,) seconds, interpolated linearly.

    `visemes` is the talk clip's viewer-independent viseme track (see
    `text2head.animation.speech.visemes_json`); `loops` says the last key equals the first.
    """

    name: str
    times: np.ndarray
    weights: np.ndarray
    targets: tuple[str, ...]
    loops: bool = False
    visemes: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        times, weights = self.times, self.weights
        if times.ndim != 1 or len(times) < 2 or times[0] != 0:
            raise ValueError(f"clip {self.name!r}: times must start at 0 with at least 2 keys")
        if not np.all(np.diff(times) > 0):
            raise ValueError(f"clip {self.name!r}: key times must be strictly increasing")
        if weights.shape != (len(times), len(self.targets)):
            raise ValueError(f"clip {self.name!r}: weights {weights.shape} do not match "
                             f"{len(times)} keys x {len(self.targets)} targets")
        if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.max() > 1:
            raise ValueError(f"clip {self.name!r}: weights must be finite and within [0, 1]")

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def at(self, seconds: float) -> np.ndarray:
        """(T,) the weights a viewer shows at `seconds` (held after the end)."""
        index = int(np.clip(np.searchsorted(self.times, seconds, side="right"), 1,
                            len(self.times) - 1))
        start, end = self.times[index - 1], self.times[index]
        blend = float(np.clip((seconds - start) / (end - start), 0.0, 1.0))
        return (1 - blend) * self.weights[index - 1] + blend * self.weights[index]


class Curves:
    """Sparse piecewise-linear curves per morph target, over a base pose.

    `add` curves are summed onto the base; `set` curves replace the base for their target
    (speech owns the mouth while a head talks). Between keys a curve is linear, outside them it
    holds its end values, so a curve that starts and ends at 0 is a bump.
    """

    def __init__(self, targets: tuple[str, ...], base: np.ndarray, duration: float) -> None:
        if duration <= 0:
            raise ValueError("a clip needs a positive duration")
        self.targets = targets
        self.base = np.asarray(base, dtype=np.float64)
        self.duration = duration
        self._added: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._set: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._envelope: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, target: str, times, values) -> None:
        self._added.append((self._index(target), *_keys(times, values)))

    def set(self, target: str, times, values) -> None:
        self._set[self._index(target)] = _keys(times, values)

    def scale_base(self, times, factors) -> None:
        """The whole base pose multiplied by a curve (an expression eased in and out)."""
        self._envelope = _keys(times, factors)

    def clip(self, name: str, loops: bool = False, visemes: dict | None = None) -> Clip:
        curves = [*((t, v) for _, t, v in self._added), *self._set.values()]
        if self._envelope is not None:
            curves.append(self._envelope)
        times = _merged(np.clip(np.concatenate(
            [np.array([0.0, self.duration]), *(t for t, _ in curves)]), 0, self.duration))
        weights = np.repeat(self.base[None], len(times), axis=0)
        if self._envelope is not None:
            weights *= np.interp(times, *self._envelope)[:, None]
        for index, (keys, values) in self._set.items():
            weights[:, index] = np.interp(times, keys, values)
        for index, keys, values in self._added:
            weights[:, index] += np.interp(times, keys, values)
        return Clip(name, times.astype(np.float32), np.clip(weights, 0, 1).astype(np.float32),
                    self.targets, loops=loops, visemes=visemes)

    def _index(self, target: str) -> int:
        try:
            return self.targets.index(target)
        except ValueError:
            raise ValueError(f"the head has no morph target {target!r}") from None


def _merged(times: np.ndarray) -> np.ndarray:
    """Sorted unique times without near-duplicates (the first of a close pair is kept, and
    the last time always)."""
    times = np.unique(times)
    kept = [times[0]]
    for time in times[1:]:
        if time - kept[-1] >= MERGE_SECONDS:
            kept.append(time)
    kept[-1] = times[-1]
    return np.array(kept)


def _keys(times, values) -> tuple[np.ndarray, np.ndarray]:
    times, values = np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if times.shape != values.shape or times.ndim != 1 or not np.all(np.diff(times) > 0):
        raise ValueError("curve keys need as many values as strictly increasing times")
    return times, values
