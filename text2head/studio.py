"""Per-session logic of the web studio, kept out of `app.py` so it is testable without a
browser or a server.

The optimization of each session runs in its own worker thread (`RunWorker`), so that Stop and
loss-weight slider events are handled at once instead of waiting behind the run; the UI
consumes throttled `Update`s, so that drawing the page costs the run little. One read-only
`HeadModel` and the loaded CLIP guides are shared by every session (`Studio`); heads, runs and
files are per session (`Session`), each in a private folder removed when the session ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import plotly.graph_objects as go
import torch
from PIL import Image

from text2head import api
from text2head.bundle import write_head
from text2head.edits import apply_edits
from text2head.export import export_glb
from text2head.guidance import CLIPGuide, default_clip_spec
from text2head.guidance.loading import RANDOM_LABEL, parse_clip_spec
from text2head.heads import HeadModel, HeadParams
from text2head.optimize import SCORE_VIEWS, Optimization, StepResult
from text2head.preview import contact_sheet, preview_views
from text2head.printing import Progress, print_head
from text2head.settings import DEFAULT_LEARNING_RATES, DEFAULT_WEIGHTS, LiveSettings

KEEP_EXPORTS = 3  # export folders kept per session (older ones are deleted)
VIEWER_TEXTURE = 512  # texture size of the GLBs shown in the 3D viewer
IDLE_SECONDS = 6 * 3600  # a session without a run and without events for this long is removed


# ----- sliders ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightControl:
    """A loss-weight slider: the weight (a `DEFAULT_WEIGHTS` name) it sets, and its range."""

    name: str
    label: str
    maximum: float

    @property
    def default(self) -> float:
        return api.EDIT_WEIGHTS.get(self.name, DEFAULT_WEIGHTS[self.name])


WEIGHT_CONTROLS = (
    WeightControl("clip", "CLIP (match the prompt)", 3.0),
    WeightControl("negative", "Negative prompt", 2.0),
    WeightControl("prior_identity", "Identity prior", 0.5),
    WeightControl("prior_local_shape", "Local shape prior", 0.5),
    WeightControl("prior_expression", "Expression prior", 0.2),
    WeightControl("expression_sparsity", "Expression sparsity", 0.1),
    WeightControl("texture_smoothness", "Texture smoothness", 5.0),
    WeightControl("shape_symmetry", "Shape symmetry", 2.0),
    WeightControl("texture_symmetry", "Texture symmetry", 5.0),
    WeightControl("identity_preservation", "Identity preservation (continue mode)", 5.0),
)


def run_weights(values: Mapping[str, float], editing: bool) -> dict[str, float]:
    """Slider values as a run's weights: identity preservation only applies when continuing
    from an edited head (a fresh run starts from the neutral head, which the priors cover)."""
    weights = {name: float(value) for name, value in values.items()}
    if editing:
        return {**api.EDIT_WEIGHTS, **weights}
    return {**weights, "identity_preservation": 0.0}


def learning_rates(scale: float) -> dict[str, float]:
    """Every group's default learning rate times one slider value."""
    return {name: rate * float(scale) for name, rate in DEFAULT_LEARNING_RATES.items()}


# ----- pictures --------------------------------------------------------------------------------
def preview_image(model: HeadModel, head: HeadParams) -> Image.Image:
    """The views the run previews, rendered for any head (after an edit or a random draw)."""
    return contact_sheet(preview_views(model, head, views=SCORE_VIEWS, resolution=224))


def loss_figure(history: list[dict[str, float]]) -> go.Figure:
    """Every loss term per step, log scale (the terms differ by orders of magnitude)."""
    figure = go.Figure()
    for name in dict.fromkeys(name for losses in history for name in losses):
        steps = [i for i, losses in enumerate(history, start=1) if name in losses]
        values = [history[i - 1][name] for i in steps]
        figure.add_trace(go.Scatter(
            x=steps, y=[v if v > 0 and math.isfinite(v) else None for v in values],
            mode="lines", name=name, line={"width": 3 if name == "total" else 1.5},
        ))
    figure.update_layout(
        height=320, margin={"l": 10, "r": 10, "t": 36, "b": 10}, yaxis_type="log",
        title={"text": "loss terms (unweighted) per step", "font": {"size": 13}},
        xaxis_title="step", legend={"font": {"size": 10}}, template="plotly_white",
    )
    return figure


def clip_label(spec: str) -> str:
    """How a CLIP spec is shown before it is loaded; random weights are always labelled."""
    try:
        parsed = parse_clip_spec(spec)
    except ValueError:
        return spec
    return f"{parsed} ({RANDOM_LABEL})" if parsed.kind == "random" else str(parsed)


def clip_choices() -> list[str]:
    """The CLIP specs offered: TEXT2HEAD_CLIP_CHOICES (comma-separated), else the default."""
    listed = [s.strip() for s in os.environ.get("TEXT2HEAD_CLIP_CHOICES", "").split(",")]
    return list(dict.fromkeys(s for s in listed if s)) or [default_clip_spec()]


# ----- one run in a worker thread --------------------------------------------------------------
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
    """Runs one `Optimization` in a daemon thread; `updates()` hands its progress out."""

    def __init__(self, run: Optimization, editing: bool = False):
        self.run = run
        self.editing = editing
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

    def stop(self) -> None:
        """End the run after the step in progress; the best head so far is kept."""
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
        return api.finish(self.run, list(self.history), out)


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


# ----- files -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Downloads:
    """The four downloads of a head."""

    glb: Path
    obj_zip: Path
    ply: Path
    params: Path


def downloads_from(files: Mapping[str, Path]) -> Downloads:
    """Downloads from the files `write_head`/`write_run` wrote; the OBJ, MTL and every part's
    PNG are zipped, because an OBJ without its materials and textures shows no colour."""
    obj = files["obj"]
    archive = obj.with_name(f"{obj.stem}_obj.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for kind, path in files.items():
            if kind in ("obj", "mtl") or kind.startswith("png"):
                bundle.write(path, path.name)
    return Downloads(glb=files["glb"], obj_zip=archive, ply=files["ply"], params=files["params"])


# ----- sessions --------------------------------------------------------------------------------
class Session:
    """One visitor: a private folder, the head on show (`head`), the head edits start from
    (`base`), and at most one run."""

    def __init__(self, model: HeadModel, folder: Path):
        self.model = model
        self.folder = folder
        self.base: HeadParams = model.neutral()
        self.head: HeadParams = self.base
        self.worker: RunWorker | None = None
        self.last_used = time.monotonic()
        self._numbers = itertools.count(1)

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.done

    def start(self, run: Optimization, editing: bool) -> RunWorker:
        """Start a run (stopping this session's previous one)."""
        self.stop()
        self.worker = RunWorker(run, editing)
        return self.worker

    def stop(self) -> bool:
        """Stop the run, if one is going; True if there was one."""
        if not self.running:
            return False
        self.worker.stop()
        return True

    def set_weight(self, name: str, value: float) -> None:
        """A loss-weight slider moved: the running run uses it from its next step."""
        worker = self.worker
        if worker is None or worker.done:
            return
        if name == "identity_preservation" and not worker.editing:
            return
        worker.settings.update(weights={name: float(value)})

    def set_learning_rate_scale(self, scale: float) -> None:
        if self.running:
            self.worker.settings.update(learning_rates=learning_rates(scale))

    def adopt(self, head: HeadParams) -> None:
        """Show `head` and make it the starting point of edits."""
        self.base = self.head = head.detach()

    def edit(self, values: Mapping[str, float],
             styles: Mapping[str, str] | None = None) -> Image.Image:
        """Apply the edit sliders (by label) and part styles (by kind) to the base head and
        render the result."""
        self.head = apply_edits(self.model, self.base, values, styles)
        return preview_image(self.model, self.head)

    def new_folder(self, kind: str) -> Path:
        """A fresh numbered folder for one export; only the newest few are kept."""
        folder = self.folder / f"{next(self._numbers):05d}-{kind}"
        folder.mkdir(parents=True)
        for old in sorted(self.folder.iterdir())[:-KEEP_EXPORTS]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def export(self) -> Downloads:
        """Every download of the head on show."""
        folder = self.new_folder("export")
        return downloads_from(write_head(self.model, self.head, folder, preview=False))

    def viewer_glb(self, head: HeadParams) -> Path:
        """A light GLB (small textures) of a head and its parts for the 3D viewer."""
        meshes = self.model.to_meshes(head, texture_size=VIEWER_TEXTURE)
        return export_glb(meshes, self.new_folder("viewer") / "head.glb")

    def print_stl(self, progress: Progress | None = None) -> Path:
        """A watertight STL bust of the head on show for 3D printing (issue #11); made on
        demand because it takes seconds, with `progress(fraction, text)` as it goes."""
        folder = self.new_folder("print")
        return print_head(self.model, self.head, folder, formats=("stl",),
                          progress=progress)["stl"]

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Studio:
    """What the app shares between sessions: one read-only HeadModel, the loaded CLIP guides,
    and the sessions keyed by Gradio's session hash, each with a folder under `root`."""

    def __init__(self, model: HeadModel | None = None, root: str | Path | None = None,
                 device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = (model or HeadModel()).to(self.device)
        self.root = Path(root or tempfile.mkdtemp(prefix="text2head-studio-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._sessions: dict[str, Session] = {}
        self._guides: dict[str, CLIPGuide] = {}
        self._lock = threading.Lock()
        self._guide_lock = threading.Lock()

    def session(self, key: str) -> Session:
        """The session for a key, created on first use (sessions idle too long are removed)."""
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                self._expire(now)
                folder = self.root / hashlib.sha256(key.encode()).hexdigest()[:24]
                session = self._sessions[key] = Session(self.model, folder)
            session.last_used = now
            return session

    def _expire(self, now: float) -> None:
        for key, session in list(self._sessions.items()):
            if not session.running and now - session.last_used > IDLE_SECONDS:
                self._sessions.pop(key).close()

    def end_session(self, key: str) -> None:
        """The visitor left: stop their run and delete their files."""
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        """Stop every run and delete every session folder (at shutdown)."""
        for key in list(self._sessions):
            self.end_session(key)
        shutil.rmtree(self.root, ignore_errors=True)

    def guide(self, spec: str) -> CLIPGuide:
        """The CLIP guide for a spec, loaded once and shared (CLIP is only read)."""
        with self._guide_lock:
            if spec not in self._guides:
                self._guides[spec] = api.load_guide(spec, self.device)
            return self._guides[spec]

    def preload(self, spec: str) -> None:
        """Load a guide in the background so that the first Generate starts sooner; a failure
        is left for Generate to report."""

        def load() -> None:
            with contextlib.suppress(Exception):
                self.guide(spec)

        threading.Thread(target=load, name="text2head-preload", daemon=True).start()

    def start_run(self, key: str, prompt: str, *, clip: str, editing: bool,
                  weights: Mapping[str, float], learning_rate_scale: float,
                  **options) -> RunWorker:
        """Check the inputs, load CLIP and start a session's run; continuing (`editing`)
        starts from the head on show and keeps close to it. `options` are RunConfig fields."""
        session = self.session(key)
        run = api.prepare(
            prompt, clip=self.guide(clip), device=self.device, model=self.model,
            start=session.head if editing else None,
            weights=run_weights(weights, editing),
            learning_rates=learning_rates(learning_rate_scale), **options,
        )
        return session.start(run, editing)
