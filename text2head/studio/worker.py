"""One optimization in a worker thread, and what the page shows of it.

The run goes in its own daemon thread (`RunWorker`), so that Stop and loss-weight slider
events are handled at once instead of waiting behind the run; the page consumes throttled
`Update`s, so that drawing it costs the run little.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from text2head import api
from text2head.candidates import Candidate
from text2head.heads import HeadParams
from text2head.optimize import Optimization, StepResult
from text2head.settings import LiveSettings


class RecordingSettings(LiveSettings):
    """LiveSettings that remember the weights the engine last read (at the start of a step), so
    the UI can show which weights were really in force."""

    def __init__(self, *args, **kwargs):
        self.in_force: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    def snapshot(self) -> tuple[dict[str, float], dict[str, float]]:
        weights, rates = super().snapshot()
        self.in_force = weights
        return weights, rates


@dataclass
class Update:
    """What the page shows after a throttled wait on a run."""

    step: int
    steps: int
    history: list[dict[str, float]]
    step_seconds: float
    weights: dict[str, float]  # in force during `step`
    preview: torch.Tensor | None  # (views, 3, H, W), only when new since the last update
    head: HeadParams | None  # the previewed head, with `preview`
    clip_score: float | None  # of the latest preview
    preview_step: int  # step of the latest preview (0 before the first)
    done: bool
    error: BaseException | None = None


class RunWorker:
    """Runs one `Optimization` in a daemon thread; `updates()` hands its progress out. A run
    started from a grid of `candidates` lists them in its config.json."""

    def __init__(self, run: Optimization, editing: bool = False,
                 candidates: Sequence[Candidate] = ()):
        self.run = run
        self.editing = editing
        self.candidates = tuple(candidates)
        self.replaced = False  # stopped because another run of its session took its place
        self.settings = RecordingSettings(run.config.weights, run.config.learning_rates)
        self.initial_weights = self.settings.snapshot()[0]
        run.settings = self.settings
        self.history: list[dict[str, float]] = []
        self.weights_per_step: list[dict[str, float]] = []
        self.step_ends: list[float] = []  # time.monotonic() after each step: the real pace
        self.error: BaseException | None = None
        self.done = False
        self._last: StepResult | None = None
        self._previewed: StepResult | None = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="text2head-run", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for result in self.run:
                with self._condition:
                    self.history.append(result.losses)
                    self.weights_per_step.append(self.settings.in_force)
                    self.step_ends.append(time.monotonic())
                    self._last = result
                    if result.preview is not None:
                        self._previewed = result
                    self._condition.notify_all()
        except Exception as error:  # shown to the user; the thread must not die silently
            self.error = error
        finally:
            with self._condition:
                self.done = True
                self._condition.notify_all()

    def stop(self, replaced: bool = False) -> None:
        """End the run after the step in progress; the best head so far is kept, unless the
        run is `replaced` by another (its page then shows the new run, not this result)."""
        self.replaced = self.replaced or replaced
        self.run.stop()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def updates(self, interval: float = 1.0) -> Iterator[Update]:
        """Updates at most every `interval` seconds, each only once there is a new step; the
        last one has `done` set. A preview is included only when it is new."""
        shown_step = shown_preview = 0
        not_before = 0.0
        while True:
            with self._condition:
                delay = not_before - time.monotonic()
                if delay > 0:
                    self._condition.wait_for(lambda: self.done, timeout=delay)
                self._condition.wait_for(partial(self._has_news, shown_step))
                update = self._update(shown_preview)
            not_before = time.monotonic() + interval
            shown_step, shown_preview = update.step, update.preview_step
            yield update
            if update.done:
                return

    def _has_news(self, shown_step: int) -> bool:
        return self.done or len(self.history) > shown_step

    def _update(self, shown_preview: int) -> Update:
        """The state now (called with the condition held)."""
        last, previewed = self._last, self._previewed
        new_preview = previewed is not None and previewed.step > shown_preview
        return Update(
            step=len(self.history), steps=self.run.config.steps, history=list(self.history),
            step_seconds=last.seconds if last else 0.0,
            weights=self.weights_per_step[-1] if self.weights_per_step else self.initial_weights,
            preview=previewed.preview if new_preview else None,
            head=previewed.head if new_preview else None,
            clip_score=previewed.clip_score if previewed else None,
            preview_step=previewed.step if previewed else 0, done=self.done, error=self.error,
        )

    def live_changes(self, weights: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        """Weights that differ from those the run started with: name -> (start, now)."""
        return {name: (self.initial_weights[name], value) for name, value in weights.items()
                if not math.isclose(value, self.initial_weights[name])}

    def finish(self, out: Path) -> api.Result:
        """The best head so far, with every file written to `out` (waits for the thread)."""
        self.join()
        return api.finish(self.run, list(self.history), out, self.candidates)


def status_line(update: Update) -> str:
    """Step, CLIP score of the latest preview and step time."""
    parts = [f"step {update.step}/{update.steps}"]
    if update.clip_score is not None:
        parts.append(f"CLIP score {update.clip_score:.1f}")
    parts.append(f"{update.step_seconds:.2f} s/step")
    return " · ".join(parts)


def weights_line(worker: RunWorker, update: Update) -> str:
    """Which live weight changes the engine used at the update's step."""
    changes = worker.live_changes(update.weights)
    if not changes:
        return f"Step {update.step}: the run's starting weights are in force."
    listed = ", ".join(f"{name} {start:g} → {now:g}" for name, (start, now) in changes.items())
    return f"Step {update.step}: live changes in force: {listed}."
