"""The studio's event handlers: what each button, slider and upload of the app does for the
visitor who sent it. Each finds the visitor's session by Gradio's session hash and holds it in
use while the event runs; `app.py` lays the page out and wires these to its components."""

from __future__ import annotations

import contextlib
import html
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr
import torch

from text2head import api
from text2head.animation.clips import CLIP_NAMES
from text2head.animation.request import AnimationRequest
from text2head.candidates import Candidate, more_like, rank
from text2head.edits import EDIT_CONTROLS, STYLE_MENUS, edit_values, style_values
from text2head.guidance import CLIPWeightsUnavailable
from text2head.heads import HeadParams
from text2head.optimize import SCORE_VIEWS
from text2head.preview import contact_sheet
from text2head.studio.controls import (
    WEIGHT_CONTROLS,
    loss_figure,
    preview_image,
)
from text2head.studio.grid import CandidateGrid, one_thread
from text2head.studio.hosting import rejecting
from text2head.studio.session import Downloads, Session, downloads_from
from text2head.studio.studio import Studio
from text2head.studio.worker import RunWorker, status_line, weights_line


@dataclass(frozen=True)
class RunOptions:
    """The run controls an event was sent with (checked by the app's boundary)."""

    negative: str | None
    steps: float
    views: float
    clip: str
    lr_scale: float
    weights: Sequence[float]

    def start(self, studio: Studio, key: str, prompt: str, **options) -> RunWorker:
        """Start the session's run with these controls; `options` as `Studio.start_run`."""
        names = [control.name for control in WEIGHT_CONTROLS]
        return studio.start_run(
            key, prompt, clip=self.clip, weights=dict(zip(names, self.weights, strict=True)),
            learning_rate_scale=self.lr_scale, negative=(self.negative or "").strip() or None,
            steps=int(self.steps), views=int(self.views), **options)

    def refine(self, studio: Studio, key: str, grid: CandidateGrid,
               candidate: Candidate) -> RunWorker:
        """Refine a candidate of the grid: from its head, with its seed and its styles (CLIP
        does not choose them again), the grid listed in the run's config.json."""
        return self.start(studio, key, grid.prompt, editing=False, start=candidate.head,
                          candidates=grid.shown, seed=candidate.seed, choose_styles=())


NO_CLIP = "none"  # the Animate choice that gives the still head
ANIMATE_CHOICES = (NO_CLIP, *CLIP_NAMES)
NOT_RUNNING = ""  # the weights line before a run has started: empty (scripts wait for text)


class Handlers:
    """The event handlers of one app; each finds the visitor's session by its hash, and
    holds it in use (so it cannot expire) while the event runs. Every input was checked by
    the app's boundary (`CheckedBlocks`) before a handler sees it."""

    def __init__(self, studio: Studio, update_seconds: float = 1.0,
                 viewer_seconds: float = 10.0):
        self.studio = studio
        self.update_seconds = update_seconds  # least time between page updates in a run
        self.viewer_seconds = viewer_seconds  # least time between 3D viewer reloads in a run

    def picture(self, session: Session, head: HeadParams) -> str:
        """The preview sheet of a head, as a file in the session's folder."""
        return str(session.picture(preview_image(self.studio.model, head)))

    def pick_seed(self, seed: float, randomize: bool) -> int:
        return random.randrange(2**31) if randomize else int(seed)

    @rejecting
    def generate(self, request: gr.Request, prompt, negative, seed, steps, views, clip,
                 lr_scale, *weights):
        """Four instant candidates (seeds s…s+3) in the grid at once; then, with CLIP, their
        scores and the best one refined (streaming previews, losses and status) unless one
        is clicked first. Without CLIP weights the first candidate is the answer."""
        options = RunOptions(negative, steps, views, clip, lr_scale, weights)
        with self.studio.using(request.session_hash) as session:
            with one_thread():
                found, understood, _ = api.candidates(prompt, seed=int(seed),
                                                      model=self.studio.model,
                                                      device=self.studio.device)
                grid = session.show_candidates(prompt, understood, found)
            line = _understood_line(understood)
            yield run_outputs(status=_status(f"{line} — {len(found)} candidates, seeds "
                                             f"{found[0].seed}–{found[-1].seed}; ranking…"),
                              weights=NOT_RUNNING, grid=grid.gallery())
            try:
                guide = self.studio.guide(clip)
            except CLIPWeightsUnavailable as error:
                yield self._instant_result(session, grid, grid.chosen, error)
                return
            self._score(grid, guide)
            worker = session.refine_best(grid, lambda best: options.refine(
                self.studio, request.session_hash, grid, best))
            if worker is None:  # a candidate was clicked meanwhile: its run has the page
                yield run_outputs(grid=grid.gallery())
                return
            yield run_outputs(status=_status(f"{line} — refining the best candidate, seed "
                                             f"{grid.chosen.seed}; click another to refine "
                                             "it instead…"), grid=grid.gallery())
            yield from self._stream(session, worker, line, f"seed {grid.chosen.seed}")

    @rejecting
    def choose(self, request: gr.Request, index, negative, steps, views, clip, lr_scale,
               *weights):
        """Refine the candidate clicked in the grid (this session's run stops); without
        CLIP weights, show it in the editor with its downloads."""
        options = RunOptions(negative, steps, views, clip, lr_scale, weights)
        with self.studio.using(request.session_hash) as session:
            grid, candidate = session.pick(int(index))
            try:
                worker = options.refine(self.studio, request.session_hash, grid, candidate)
            except CLIPWeightsUnavailable as error:
                yield self._instant_result(session, grid, candidate, error)
                return
            line = _understood_line(grid.understood)
            yield run_outputs(status=_status(f"{line} — refining seed {candidate.seed}…"),
                              weights=NOT_RUNNING)
            yield from self._stream(session, worker, line, f"seed {candidate.seed}")

    @rejecting
    def more_like(self, request: gr.Request, clip):
        """Four new candidates near the chosen one, with the next unused seeds: its styles
        and what the prompt states stay (see `candidates.more_like`); scored when CLIP is
        there."""
        with self.studio.using(request.session_hash) as session:
            grid = session.shown_grid()
            with one_thread():
                found = more_like(self.studio.model, grid.understood, grid.chosen.head,
                                  grid.next_seed)
                near = session.show_candidates(grid.prompt, grid.understood, found,
                                               grid.chosen)
            text = (f"{len(found)} more like seed {grid.chosen.seed}: seeds "
                    f"{found[0].seed}–{found[-1].seed}. Click one to refine it.")
            yield near.gallery(), _status(text)
            with contextlib.suppress(CLIPWeightsUnavailable):  # unscored without weights
                self._score(near, self.studio.guide(clip))
                yield near.gallery(), _status(text)

    def _score(self, grid: CandidateGrid, guide) -> None:
        """The grid's CLIP scores on the fixed score views, on one core: the other serves
        the page the thumbnails it was just sent (ranking on both cores delayed them)."""
        with one_thread():
            grid.scored(rank(self.studio.model, guide, grid.shown, grid.prompt, SCORE_VIEWS))

    @staticmethod
    def selected(event: gr.SelectData) -> int:
        """The place clicked in the grid (the page sends it on to /choose)."""
        return event.index

    @rejecting
    def continue_editing(self, request: gr.Request, prompt, negative, seed, steps, views, clip,
                         lr_scale, *weights):
        """Optimize from the head on show toward a new prompt, staying close to it."""
        options = RunOptions(negative, steps, views, clip, lr_scale, weights)
        with self.studio.using(request.session_hash) as session:
            try:
                worker = options.start(self.studio, request.session_hash, prompt,
                                       editing=True, seed=int(seed))
            except CLIPWeightsUnavailable as error:  # continuing needs CLIP: say how
                raise gr.Error(str(error), duration=None, print_exception=False) from None
            yield from self._stream(session, worker)

    def _stream(self, session: Session, worker, lead: str = "", title: str = ""):
        """The run's updates (each status line starting with `title`), then its result (its
        status line with `lead` and `title`); a run whose page went away is stopped, and a
        run that another of the session replaced ends without a result."""
        description = worker.run.guide.description
        notices = " ".join(f"Note: {text}." for text in worker.run.notices)
        viewer_due = 0.0
        try:
            for update in worker.updates(self.update_seconds):
                if update.error is not None:
                    raise gr.Error(f"The run failed: {update.error}", print_exception=False)
                if update.done:
                    break
                viewer = None
                if update.head is not None and time.monotonic() >= viewer_due:
                    viewer = str(session.viewer_glb(update.head))
                    viewer_due = time.monotonic() + self.viewer_seconds
                image = None if update.preview is None else \
                    str(session.picture(contact_sheet(update.preview)))
                text = " ".join(filter(None, (_joined(title, status_line(update)), notices)))
                yield run_outputs(preview=image, plot=loss_figure(update.history),
                                  status=status_html(text, description, update.step,
                                                     update.steps),
                                  weights=weights_line(worker, update), viewer=viewer)
            if worker.replaced:
                return
            result = session.finish_run(worker)
        finally:
            if not worker.done:  # the page went away mid-run: never leave it running
                worker.stop()
        session.adopt(result.head)
        downloads = downloads_from(result.files)
        viewer = session.viewer_glb(result.head)
        stopped = " (stopped)" if worker.run.stopped else ""
        done = (f"Done{stopped}: {result.steps_run} steps, best CLIP score "
                f"{result.clip_score:.1f} at step {result.best_step}.")
        yield run_outputs(preview=self.picture(session, result.head),
                          plot=loss_figure(result.history),
                          status=status_html(" ".join(filter(None, (_joined(lead, title, done),
                                                                    notices))),
                                             description, result.steps_run,
                                             result.config.steps),
                          viewer=str(viewer), downloads=downloads)

    def _instant_result(self, session: Session, grid: CandidateGrid, candidate: Candidate,
                        error: CLIPWeightsUnavailable) -> tuple:
        """Without CLIP weights, a candidate is the answer: it goes to the editor, with its
        files, viewer and a status line naming its seed, saying it was not refined and how
        to get weights."""
        session.adopt(candidate.head)
        downloads = session.export_instant(grid.understood, seed=candidate.seed,
                                           candidates=[c.to_dict() for c in grid.shown])
        text = (f"{_understood_line(grid.understood)} — seed {candidate.seed}, "
                f"{api.INSTANT_LABEL} (click another candidate to edit it instead). No CLIP "
                f"weights, so no optimization: {error}")
        return run_outputs(preview=self.picture(session, session.head), status=_status(text),
                           weights=NOT_RUNNING, viewer=str(session.viewer_glb(session.head)),
                           downloads=downloads)

    @rejecting
    def stop(self, request: gr.Request) -> str:
        """End this visitor's run within one step; the best head so far is kept."""
        with self.studio.using(request.session_hash) as session:
            stopped = session.stop()
        return "Stopping after this step…" if stopped else "Nothing is running."

    @rejecting
    def random_head(self, request: gr.Request, seed: int):
        """A plausible random head: needs no CLIP."""
        with self.studio.using(request.session_hash) as session:
            session.adopt(self.studio.model.sample(torch.Generator().manual_seed(int(seed))))
            return self.picture(session, session.head), status_html(
                f"Random head, seed {int(seed)}. Edit it below or continue optimizing it.",
                "", 0, 0)

    @rejecting
    def open_head(self, request: gr.Request, upload: dict | None):
        """Show a saved head (params.json) to edit or continue optimizing; on a bad file the
        head on show stays and the error names what is wrong. The upload (Gradio's file data,
        unprocessed: the boundary checked it is the caller's own) is then deleted."""
        if upload is None:
            raise ValueError("Open: choose a params.json file saved by text2head")
        upload = upload["path"]
        try:
            with self.studio.using(request.session_hash) as session:
                session.open(upload)
                return None, self.picture(session, session.head), status_html(
                    "Opened a saved head. Edit it below or continue optimizing it.", "", 0, 0)
        finally:
            self.studio.uploads.discard(upload)

    @rejecting
    def edit_values(self, request: gr.Request) -> list:
        """The edit sliders and style menus set to the head on show."""
        with self.studio.using(request.session_hash) as session:
            return [*edit_values(self.studio.model, session.base), *style_values(session.base)]

    @rejecting
    def edit(self, request: gr.Request, *values):
        """Re-render the head with the edit sliders and style menus applied (no CLIP)."""
        sliders, menus = values[:len(EDIT_CONTROLS)], values[len(EDIT_CONTROLS):]
        styles = {kind: choice for (_, kind), choice in zip(STYLE_MENUS, menus, strict=True)}
        with self.studio.using(request.session_hash) as session:
            session.edit({c.label: v for c, v in zip(EDIT_CONTROLS, sliders, strict=True)},
                         styles)
            return self.picture(session, session.head)

    @rejecting
    def export(self, request: gr.Request):
        """Every download of the head on show, and the 3D viewer."""
        with self.studio.using(request.session_hash) as session:
            return str(session.viewer_glb(session.head)), *download_values(session.export())

    @rejecting
    def animate(self, request: gr.Request, clip: str, line: str | None):
        """The 3D viewer and the GLB download animated by `clip` (the line is said by the
        talk clip only), and the clip's animated preview; "none" gives the still head."""
        with self.studio.using(request.session_hash) as session:
            if clip == NO_CLIP:
                return str(session.viewer_glb(session.head)), str(session.export().glb), None
            line = (line or "").strip() if clip == "talk" else None
            files = session.animate(AnimationRequest((clip,), line or None))
            return str(files["glb"]), str(files["glb"]), str(files[f"anim_{clip}"])

    @rejecting
    def print_stl(self, request: gr.Request, progress=gr.Progress()) -> str:  # noqa: B008
        """A 3D-printable STL bust of the head on show (a few seconds, with a progress bar)."""
        with self.studio.using(request.session_hash) as session:
            return str(session.print_stl(lambda fraction, text: progress(fraction, desc=text)))

    def weight_setter(self, name: str):
        @rejecting
        def set_weight(request: gr.Request, value: float) -> None:
            with self.studio.using(request.session_hash) as session:
                session.set_weight(name, value)

        return set_weight

    @rejecting
    def set_learning_rate(self, request: gr.Request, scale: float) -> None:
        with self.studio.using(request.session_hash) as session:
            session.set_learning_rate_scale(scale)

    def end_session(self, request: gr.Request) -> None:
        self.studio.end_session(request.session_hash)


def download_values(downloads: Downloads) -> list[str]:
    """The download buttons' values, in the order of the buttons."""
    return [str(downloads.glb), str(downloads.obj_zip), str(downloads.ply),
            str(downloads.params)]


def run_outputs(*, preview: str | None = None, plot=None, status: str | None = None,
                weights: str | None = None, viewer: str | None = None,
                downloads: Downloads | None = None, grid: list | None = None) -> tuple:
    """One update of a run event's outputs, in the order of app.py's `run_outputs`
    (preview, loss chart, status, weights line, 3D viewer, the four downloads, candidates
    grid); what is not given stays as it is on the page."""
    files = [None] * 4 if downloads is None else download_values(downloads)
    values = (preview, plot, status, weights, viewer, *files, grid)
    return tuple(gr.skip() if value is None else value for value in values)


def _understood_line(understood) -> str:
    return f"Understood: {understood.summary() or 'nothing'}"


def _joined(*parts: str) -> str:
    return " · ".join(filter(None, parts))


def _status(text: str) -> str:
    """A status line without a run's progress bar or guide."""
    return status_html(text, "", 0, 0)


def status_html(text: str, guide: str, step: int, steps: int) -> str:
    """The status line: a progress bar while running, the text, and the guide in use."""
    bar = f'<progress value="{step}" max="{steps}"></progress> ' if steps else ""
    guide_html = f"<br><small>guide: {html.escape(guide)}</small>" if guide else ""
    return f'<div id="status-text">{bar}{html.escape(text)}{guide_html}</div>'
