"""Text2Head Studio: the Gradio web app (also the Hugging Face Space). Layout and event wiring
only; the per-session logic is in `text2head.studio` and the rest in the library.

Run: `python app.py` (binds GRADIO_SERVER_NAME:GRADIO_SERVER_PORT, default 127.0.0.1:7860;
a Space or the Docker image sets 0.0.0.0). README's "Hosting" section says what it guarantees.
"""

from __future__ import annotations

import html
import os
import random
import signal
import sys
import time

import gradio as gr
import torch

from text2head import api
from text2head.edits import EDIT_CONTROLS, HAIR_SECTION, STYLE_MENUS, edit_values, style_values
from text2head.guidance import CLIPWeightsUnavailable
from text2head.heads import HeadParams
from text2head.heads.params import MAX_FILE_BYTES
from text2head.preview import contact_sheet
from text2head.studio import (
    WEIGHT_CONTROLS,
    Downloads,
    Session,
    Studio,
    clip_choices,
    clip_label,
    downloads_from,
    loss_figure,
    preview_image,
    status_line,
    weights_line,
)
from text2head.studio.controls import LEARNING_RATE_RANGE
from text2head.studio.hosting import CheckedBlocks, app_kwargs, rejecting
from text2head.studio.inputs import MAX_SEED
from text2head.studio.storage import StorageUnavailable

UPDATE_SECONDS = float(os.environ.get("TEXT2HEAD_UPDATE_SECONDS", "1.0"))  # page refresh limit
VIEWER_SECONDS = float(os.environ.get("TEXT2HEAD_VIEWER_SECONDS", "10"))  # 3D viewer refresh
MAX_RUNS = int(os.environ.get("TEXT2HEAD_MAX_RUNS", "2"))  # optimizations at the same time
QUEUE_SIZE = int(os.environ.get("TEXT2HEAD_QUEUE_SIZE", "16"))
STATE_CAPACITY = 1000  # sessions whose Gradio state is kept (~200 kB each), oldest dropped
EXAMPLES = [
    ["an old man with a big nose, laughing", ""],
    ["a young woman with freckles and red lips, smiling", "makeup"],
    ["a bald man with a thick beard, angry", ""],
    ["a surprised child with wide eyes", ""],
    ["an elderly woman with wrinkles, sad", ""],
]
CSS = "#preview img {object-fit: contain} .weights-line {font-size: 0.85em; opacity: 0.8}"


def launch_options(studio: Studio) -> dict:
    """What `launch()` needs besides host and port: the look, the upload limit, and the
    server hooks that track open pages and answer unknown endpoints with 404."""
    return {"theme": gr.themes.Soft(), "css": CSS, "max_file_size": MAX_FILE_BYTES,
            "state_session_capacity": STATE_CAPACITY, "app_kwargs": app_kwargs(studio)}


class Handlers:
    """The event handlers of one app; each finds the visitor's session by its hash, and
    holds it in use (so it cannot expire) while the event runs. Every input was checked by
    the app's boundary (`CheckedBlocks`) before a handler sees it."""

    def __init__(self, studio: Studio):
        self.studio = studio

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
                       _status(f"{_understood_line(understood)} — starting…", "", 0,
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
            for update in worker.updates(UPDATE_SECONDS):
                if update.error is not None:
                    raise gr.Error(f"The run failed: {update.error}", print_exception=False)
                if update.done:
                    break
                viewer = gr.skip()
                if update.head is not None and time.monotonic() >= viewer_due:
                    viewer = str(session.viewer_glb(update.head))
                    viewer_due = time.monotonic() + VIEWER_SECONDS
                image = gr.skip() if update.preview is None else \
                    str(session.picture(contact_sheet(update.preview)))
                text = " ".join(filter(None, (status_line(update), notices)))
                yield (image, loss_figure(update.history),
                       _status(text, description, update.step, update.steps),
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
               _status(" ".join(filter(None, (done, notices))), description, result.steps_run,
                       result.config.steps),
               gr.skip(), str(viewer), *_files(downloads))

    def _instant_result(self, session: Session, understood, error: CLIPWeightsUnavailable):
        """Without CLIP weights, the instant head is the answer: files, viewer and a status
        line saying it was not refined and how to get weights."""
        downloads = session.export_instant(understood)
        text = (f"{_understood_line(understood)} — {api.INSTANT_LABEL}. No CLIP weights, so "
                f"no optimization: {error}")
        return (self.picture(session, session.head), gr.skip(), _status(text, "", 0, 0),
                gr.skip(), str(session.viewer_glb(session.head)), *_files(downloads))

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
            return self.picture(session, session.head), _status(
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
                return None, self.picture(session, session.head), _status(
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
            return str(session.viewer_glb(session.head)), *_files(session.export())

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


def _files(downloads: Downloads) -> list[str]:
    """The download buttons' values, in the order of the buttons."""
    return [str(downloads.glb), str(downloads.obj_zip), str(downloads.ply),
            str(downloads.params)]


def _understood_line(understood) -> str:
    return f"Understood: {understood.summary() or 'nothing'}"


def _status(text: str, guide: str, step: int, steps: int) -> str:
    """The status line: a progress bar while running, the text, and the guide in use."""
    bar = f'<progress value="{step}" max="{steps}"></progress> ' if steps else ""
    guide_html = f"<br><small>guide: {html.escape(guide)}</small>" if guide else ""
    return f'<div id="status-text">{bar}{html.escape(text)}{guide_html}</div>'


def build_app(studio: Studio | None = None) -> gr.Blocks:
    """The Blocks app with its queue configured; `studio` defaults to a new one."""
    studio = studio or Studio()
    handlers = Handlers(studio)
    choices = clip_choices()
    with CheckedBlocks(title="Text2Head Studio", delete_cache=(1800, 3600),
                       uploads=studio.uploads) as demo:
        gr.Markdown("# Text2Head Studio\nType a prompt and watch a textured, animatable 3D head "
                    "take shape; retune it live, edit it with sliders, download it.")
        gr.Markdown(f"CLIP guide: **{html.escape(clip_label(choices[0]))}**", elem_id="clip-label")
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", elem_id="prompt",
                                    placeholder="an old man with a big nose, laughing")
                negative = gr.Textbox("", label="Negative prompt (optional)", elem_id="negative")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                with gr.Row():
                    continue_button = gr.Button("Continue optimizing this head",
                                                elem_id="continue")
                    random_button = gr.Button("Random head (no CLIP)", elem_id="random")
                with gr.Row():
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED,
                                     elem_id="seed")
                    randomize = gr.Checkbox(False, label="Randomize seed")
                with gr.Row():
                    steps = gr.Slider(5, 300, 60, step=1, label="Steps", elem_id="steps")
                    views = gr.Slider(1, 6, 2, step=1, label="Views per step")
                clip = gr.Dropdown(choices, value=choices[0], label="CLIP model",
                                   visible=len(choices) > 1)
                with gr.Accordion("Loss weights & regularizers (apply live)", open=True):
                    weights = [gr.Slider(0, c.maximum, c.default, step=c.maximum / 500,
                                         label=c.label, elem_id=f"weight-{c.name}")
                               for c in WEIGHT_CONTROLS]
                    lr_scale = gr.Slider(*LEARNING_RATE_RANGE, 1.0, step=0.05,
                                         label="Learning rate ×", elem_id="learning-rate")
                gr.Examples(EXAMPLES, [prompt, negative], cache_examples=False)
            with gr.Column(scale=3):
                status = gr.HTML(_status("Ready.", "", 0, 0), label="Status", elem_id="status")
                weights_info = gr.Markdown("", label="Weights in force",
                                           elem_classes="weights-line", elem_id="weights-line")
                preview = gr.Image(label="Preview", type="filepath", interactive=False,
                                   elem_id="preview")
                with gr.Tab("3D"):
                    viewer = gr.Model3D(label="3D head", clear_color=(0.95, 0.95, 0.95, 1.0),
                                        height=380, elem_id="viewer")
                with gr.Tab("Losses"):
                    plot = gr.Plot(label="Loss terms", elem_id="losses")
                with gr.Row():
                    files = [gr.DownloadButton(label, size="sm", elem_id=f"download-{key}")
                             for key, label in (("glb", "GLB (animatable)"),
                                                ("obj", "OBJ+MTL+PNG (zip)"), ("ply", "PLY"),
                                                ("params", "params.json"))]
                with gr.Row():  # 3D print (issue #11): made on demand
                    print_button = gr.Button("3D print (STL)", size="sm", elem_id="print")
                    print_file = gr.File(label="3D print (STL)", elem_id="download-print")
                open_file = gr.File(label="Open a saved head (params.json)",
                                    file_types=[".json"], elem_id="open", height=90)
                with gr.Accordion("Edit the result (no CLIP)", open=True):
                    edits = _edit_sliders(studio)

        # Public endpoints first: a later private event with the same function would take
        # the bare name ("export") and push the public one to "export_1".
        quiet = {"show_progress": "hidden"}
        private = {"api_visibility": "private", **quiet}
        sync_edits = {"fn": handlers.edit_values, "inputs": None, "outputs": edits, **private}
        pick_seed = {"fn": handlers.pick_seed, "inputs": [seed, randomize], "outputs": seed,
                     "queue": False, **private}
        changes = [c.release if isinstance(c, gr.Slider) else c.input for c in edits]
        gr.on(changes, handlers.edit, edits, preview,
              api_name="edit", **quiet).success(
            handlers.export, None, [viewer, *files], api_name="export", **quiet)
        run_inputs = [prompt, negative, seed, steps, views, clip, lr_scale, *weights]
        run_outputs = [preview, plot, status, weights_info, viewer, *files]
        for button, handler, name in ((generate, handlers.generate, "generate"),
                                      (continue_button, handlers.continue_editing, "continue")):
            button.click(**pick_seed).then(
                handler, run_inputs, run_outputs, api_name=name, concurrency_limit=MAX_RUNS,
                concurrency_id="optimize", **quiet,
            ).success(**sync_edits)
        stop.click(handlers.stop, None, status, queue=False, api_name="stop")
        print_button.click(handlers.print_stl, None, print_file, api_name="print_stl",
                           concurrency_limit=MAX_RUNS, concurrency_id="print")
        open_file.upload(handlers.open_head, open_file, [open_file, preview, status],
                         api_name="open", preprocess=False, **quiet).success(**sync_edits).success(
            handlers.export, None, [viewer, *files], **private)
        random_button.click(**pick_seed).then(
            handlers.random_head, seed, [preview, status], api_name="random_head",
        ).success(**sync_edits).success(handlers.export, None, [viewer, *files], **private)
        for control, slider in zip(WEIGHT_CONTROLS, weights, strict=True):
            slider.change(handlers.weight_setter(control.name), slider, None, queue=False,
                          api_name=f"set_{control.name}")
        lr_scale.change(handlers.set_learning_rate, lr_scale, None, queue=False,
                        api_name="set_learning_rate")
        demo.unload(handlers.end_session)
        studio.on_session_end(demo.forget_session)
    return demo.queue(default_concurrency_limit=4, max_size=QUEUE_SIZE)


def _edit_sliders(studio: Studio) -> list[gr.Slider | gr.Dropdown]:
    """The edit sliders, one tab per section, in EDIT_CONTROLS order, then the part style
    menus (in the "Hair & face details" tab) in STYLE_MENUS order."""
    sliders, menus = {}, []
    neutral = studio.model.neutral()
    values = dict(zip(EDIT_CONTROLS, edit_values(studio.model, neutral), strict=True))
    for section in dict.fromkeys(control.section for control in EDIT_CONTROLS):
        with gr.Tab(section):
            if section == HAIR_SECTION:
                for (label, kind), value in zip(STYLE_MENUS, style_values(neutral),
                                                strict=True):
                    menus.append(gr.Dropdown(list(studio.model.known_styles[kind]),
                                             value=value, label=label))
            for control in EDIT_CONTROLS:
                if control.section == section:
                    low, high = control.bounds(studio.model)
                    sliders[control] = gr.Slider(low, high, values[control],
                                                 step=control.step(studio.model),
                                                 label=control.label)
    return [*(sliders[control] for control in EDIT_CONTROLS), *menus]


def _interrupt(signum, frame) -> None:
    """SIGTERM (how Docker and Spaces stop a container) ends the app as Ctrl-C does, so that
    Gradio closes its server and `main` removes every session's files."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        studio = Studio()
    except (StorageUnavailable, ValueError) as error:  # a setting in the environment
        sys.exit(f"text2head: {error}")
    studio.preload(clip_choices()[0])
    try:
        build_app(studio).launch(**launch_options(studio))
    except KeyboardInterrupt:
        pass
    finally:
        studio.close()


if __name__ == "__main__":
    main()
