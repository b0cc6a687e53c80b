"""Text2Head Studio: the Gradio web app (also the Hugging Face Space). Layout and event wiring
only: what each event does is in `text2head.studio.handlers`, the per-session logic in
`text2head.studio` and the rest in the library.

Run: `python app.py` (binds GRADIO_SERVER_NAME:GRADIO_SERVER_PORT, default 127.0.0.1:7860;
a Space or the Docker image sets 0.0.0.0). README's "Hosting" section says what it guarantees.
"""

from __future__ import annotations

import html
import os
import signal
import sys

import gradio as gr

from text2head.animation.speech import MAX_SAY_CHARS
from text2head.candidates import DEFAULT_COUNT
from text2head.edits import EDIT_CONTROLS, HAIR_SECTION, STYLE_MENUS, edit_values, style_values
from text2head.heads.params import MAX_FILE_BYTES
from text2head.seeds import MAX_SEED
from text2head.studio import WEIGHT_CONTROLS, Studio, clip_choices, clip_label
from text2head.studio.controls import LEARNING_RATE_RANGE
from text2head.studio.handlers import ANIMATE_CHOICES, NO_CLIP, Handlers, status_html
from text2head.studio.hosting import CheckedBlocks, app_kwargs
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
CSS = ("#preview img {object-fit: contain} .weights-line {font-size: 0.85em; opacity: 0.8} "
       "#candidates .caption-label {max-width: 100%; white-space: normal; font-size: 0.8em}")


def launch_options(studio: Studio) -> dict:
    """What `launch()` needs besides host and port: the look, the upload limit, and the
    server hooks that track open pages and answer unknown endpoints with 404."""
    return {"theme": gr.themes.Soft(), "css": CSS, "max_file_size": MAX_FILE_BYTES,
            "state_session_capacity": STATE_CAPACITY, "app_kwargs": app_kwargs(studio)}


def build_app(studio: Studio | None = None) -> gr.Blocks:
    """The Blocks app with its queue configured; `studio` defaults to a new one."""
    studio = studio or Studio()
    handlers = Handlers(studio, UPDATE_SECONDS, VIEWER_SECONDS)
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
                status = gr.HTML(status_html("Ready.", "", 0, 0), label="Status", elem_id="status")
                candidates = gr.Gallery(label="Candidates: click one to refine it",
                                        columns=DEFAULT_COUNT, height="fit-content", buttons=[],
                                        allow_preview=False, interactive=False,
                                        object_fit="contain", elem_id="candidates")
                with gr.Row():
                    more = gr.Button("More like this", size="sm", elem_id="more-like")
                    chosen = gr.Number(None, label="Candidate", precision=0, minimum=0,
                                       maximum=DEFAULT_COUNT - 1, visible=False)
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
                with gr.Row():  # issue 18: the GLB animated, on demand
                    animate_clip = gr.Radio(list(ANIMATE_CHOICES), value=NO_CLIP,
                                            label="Animate", elem_id="animate-clip")
                    say = gr.Textbox(label="Line to say (talk)", max_length=MAX_SAY_CHARS,
                                     placeholder="Hello! I was made from a sentence.",
                                     elem_id="say")
                    animate_button = gr.Button("Animate", size="sm", scale=0, min_width=120,
                                               elem_id="animate")
                animation_preview = gr.Image(label="Animation preview", type="filepath",
                                             interactive=False, elem_id="animation-preview")
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
        run_controls = [negative, steps, views, clip, lr_scale, *weights]
        run_inputs = [prompt, negative, seed, steps, views, clip, lr_scale, *weights]
        # In the order of handlers.run_outputs; the candidates grid last, so that the other
        # outputs keep their places for callers of /generate from before it.
        run_outputs = [preview, plot, status, weights_info, viewer, *files, candidates]
        optimize = {"outputs": run_outputs, "concurrency_limit": MAX_RUNS,
                    "concurrency_id": "optimize", **quiet}
        for button, handler, name in ((generate, handlers.generate, "generate"),
                                      (continue_button, handlers.continue_editing, "continue")):
            button.click(**pick_seed).then(
                handler, run_inputs, api_name=name, **optimize).success(**sync_edits)
        # A click in the grid goes through a hidden number, so that API callers (who send
        # no click) choose by place too: /choose takes the place, 0 to 3.
        candidates.select(handlers.selected, None, chosen, queue=False, **private).success(
            handlers.choose, [chosen, *run_controls], api_name="choose", **optimize,
        ).success(**sync_edits)
        more.click(handlers.more_like, clip, [candidates, status], api_name="more_like",
                   **quiet)
        stop.click(handlers.stop, None, status, queue=False, api_name="stop")
        animate_button.click(handlers.animate, [animate_clip, say],
                             [viewer, files[0], animation_preview], api_name="animate",
                             concurrency_limit=MAX_RUNS, concurrency_id="animate")
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
