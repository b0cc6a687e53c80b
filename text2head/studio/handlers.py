"""The studio's event handlers: what each button, slider and upload of the app does for the
visitor who sent it. Each finds the visitor's session by Gradio's session hash and holds it in
use while the event runs; `app.py` lays the page out and wires these to its components."""

from __future__ import annotations

import html
import random
import time

import gradio as gr
import torch

from text2head import api
from text2head.edits import EDIT_CONTROLS, STYLE_MENUS, edit_values, style_values
from text2head.guidance import CLIPWeightsUnavailable
from text2head.heads import HeadParams
from text2head.preview import contact_sheet
from text2head.studio.controls import (
    WEIGHT_CONTROLS,
    loss_figure,
    preview_image,
)
from text2head.studio.hosting import rejecting
from text2head.studio.session import Downloads, Session, downloads_from
from text2head.studio.studio import Studio
from text2head.studio.worker import status_line, weights_line


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
        """Optimize a head for the prompt, streaming previews, losses and status."""
        yield from self._optimize(request, False, prompt, negative, seed, steps, views, clip,
                                  lr_scale, weights)

    @rejecting
    def continue_editing(self, request: gr.Request, prompt, negative, seed, steps, views, clip,
                         lr_scale, *weights):
        """Optimize from the head on show toward a new prompt, staying close to it."""
        yield from self._optimize(request, True, prompt, negative, seed, steps, views, clip,
                                  lr_scale, weights)

    def _optimize(self, request, editing, prompt, negative, seed, steps, views, clip, lr_scale,
                  weights):
        names = [control.name for control in WEIGHT_CONTROLS]
        with self.studio.using(request.session_hash) as session:
            understood = None
            if not editing:  # show the head the prompt describes at once, before any CLIP step
                head, understood, _ = api.instant(prompt, model=self.studio.model)
                session.adopt(head)
                yield (self.picture(session, head), gr.skip(),
                       status_html(f"{_understood_line(understood)} — starting…", "", 0,
                               int(steps)), gr.skip(), gr.skip(), *[gr.skip()] * 4)
            try:
                worker = self.studio.start_run(
                    request.session_hash, prompt, clip=clip, editing=editing,
                    weights=dict(zip(names, weights, strict=True)),
                    learning_rate_scale=lr_scale, negative=(negative or "").strip() or None,
                    steps=int(steps), views=int(views), seed=int(seed),
                )
            except CLIPWeightsUnavailable as error:
                if understood is None:  # continuing needs CLIP: say how to provide weights
                    raise gr.Error(str(error), duration=None, print_exception=False) from None
                yield self._instant_result(session, understood, error)
                return
            yield from self._stream(session, worker, understood)

    def _stream(self, session: Session, worker, understood):
        """The run's updates, then its result; a run whose page went away is stopped."""
        description = worker.run.guide.description
        notices = " ".join(f"Note: {text}." for text in worker.run.notices)
        viewer_due = 0.0
        try:
            for update in worker.updates(self.update_seconds):
                if update.error is not None:
                    raise gr.Error(f"The run failed: {update.error}", print_exception=False)
                if update.done:
                    break
                viewer = gr.skip()
                if update.head is not None and time.monotonic() >= viewer_due:
                    viewer = str(session.viewer_glb(update.head))
                    viewer_due = time.monotonic() + self.viewer_seconds
                image = gr.skip() if update.preview is None else \
                    str(session.picture(contact_sheet(update.preview)))
                text = " ".join(filter(None, (status_line(update), notices)))
                yield (image, loss_figure(update.history),
                       status_html(text, description, update.step, update.steps),
                       weights_line(worker, update), viewer, *[gr.skip()] * 4)
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
        done = " · ".join(filter(None, (understood and _understood_line(understood), done)))
        yield (self.picture(session, result.head), loss_figure(result.history),
               status_html(" ".join(filter(None, (done, notices))), description, result.steps_run,
                       result.config.steps),
               gr.skip(), str(viewer), *download_values(downloads))

    def _instant_result(self, session: Session, understood, error: CLIPWeightsUnavailable):
        """Without CLIP weights, the instant head is the answer: files, viewer and a status
        line saying it was not refined and how to get weights."""
        downloads = session.export_instant(understood)
        text = (f"{_understood_line(understood)} — {api.INSTANT_LABEL}. No CLIP weights, so "
                f"no optimization: {error}")
        return (self.picture(session, session.head), gr.skip(), status_html(text, "", 0, 0),
                gr.skip(), str(session.viewer_glb(session.head)), *download_values(downloads))

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


def _understood_line(understood) -> str:
    return f"Understood: {understood.summary() or 'nothing'}"


def status_html(text: str, guide: str, step: int, steps: int) -> str:
    """The status line: a progress bar while running, the text, and the guide in use."""
    bar = f'<progress value="{step}" max="{steps}"></progress> ' if steps else ""
    guide_html = f"<br><small>guide: {html.escape(guide)}</small>" if guide else ""
    return f'<div id="status-text">{bar}{html.escape(text)}{guide_html}</div>'
