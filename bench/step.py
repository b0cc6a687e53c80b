"""Cost of one optimization step (bald and without brows, lashes and teeth, and with long
hair, a full beard, brows, lashes and teeth) and of a full default run; prints one JSON line.

The full run's time outside its steps (`outside_steps_s`, its share `outside_fraction`) is
split into set-up, what comes before step 1 (the style choice), previews and the rest
(`outside_*_s`).

Run: python bench/step.py [--clip random:ViT-B-32] [--device cpu] [--no-full-run]
Random weights of the real architecture cost the same as the real weights (labelled in the
output).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_ms  # noqa: E402

from text2head import api  # noqa: E402
from text2head.heads import HeadModel  # noqa: E402
from text2head.optimize import Optimization, RunConfig  # noqa: E402
from text2head.render import Cameras, Lights  # noqa: E402
from text2head.styles import DEFAULT_CHOICES, STYLE_VIEWS, choose_styles  # noqa: E402

PROMPT = "an old man with a big nose, laughing"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="random:ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=12, help="steps timed for the split")
    parser.add_argument("--no-full-run", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    model = HeadModel().to(args.device)
    guide = api.load_guide(args.clip, args.device)
    figures = {"clip": guide.description, "device": args.device,
               "load_s": round(time.perf_counter() - start, 2)}
    # Styles fixed (no CLIP choice) so that both sides time the same parts every step.
    config = RunConfig(PROMPT, steps=args.steps, choose_styles=())
    neutral = model.neutral().to(args.device)
    bare = neutral.with_styles(eyebrows="none", eyelashes="none", teeth="none")
    dressed = neutral.with_styles(hair="long01", facial_hair="full_beard")
    # Alternate the two so that machine noise hits both alike; keep the faster of each.
    bare_ms, dressed_ms = [], []
    for _ in range(2):
        bare_ms.append(time_steps(model, guide, config, bare, {})[0])
        dressed_ms.append(time_steps(model, guide, config, dressed, figures)[0])
    step_ms = min(dressed_ms)
    figures["step_without_parts_ms"] = round(min(bare_ms), 1)
    figures["step_ms"] = round(step_ms, 1)
    figures["parts_over_bare"] = round(step_ms / min(bare_ms), 3)
    began = time.perf_counter()
    choose_styles(model, guide, neutral, PROMPT, DEFAULT_CHOICES, STYLE_VIEWS)
    figures["style_choice_s"] = round(time.perf_counter() - began, 2)
    clip_ms = clip_only_ms(model, guide, config, args.device)
    figures["clip_only_ms"] = clip_ms
    figures["step_over_clip"] = round(step_ms / clip_ms, 3)
    if not args.no_full_run:
        figures.update(full_run(model, guide))
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.device.startswith("cuda"):
        figures["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    figures["threads"] = torch.get_num_threads()
    figures["torch"] = torch.__version__
    print(json.dumps(figures, ensure_ascii=False))


def time_steps(model: HeadModel, guide, config: RunConfig, start, figures: dict):
    """Median step time (ms) of a run from `start`; phase split and first preview go into
    `figures`."""
    began = time.perf_counter()
    phases, seconds = [], []
    for result in Optimization(model, guide, config, start=start):
        if result.step == 1:
            figures["first_preview_s"] = round(time.perf_counter() - began, 3)
        elif result.preview is None:  # steady-state steps without a preview
            phases.append(result.timings)
            seconds.append(result.seconds)
    for phase in phases[0]:
        figures[f"step_{phase}_ms"] = round(1000 * statistics.median(p[phase] for p in phases), 1)
    return 1000 * statistics.median(seconds), figures


def full_run(model: HeadModel, guide) -> dict[str, float]:
    """Wall time of the default run, set-up included, and how much of it is spent outside
    its steps: set-up (prompt reading, instant head), the style choice before step 1, and
    the previews (fixed views rendered and scored), the rest being the loop itself."""
    config = RunConfig(PROMPT)
    start = time.perf_counter()
    run = Optimization(model, guide, config)
    setup = time.perf_counter() - start
    steps = previews = 0.0
    before_first = None
    for result in run:
        if before_first is None:  # everything between set-up and the end of step 1
            before_first = time.perf_counter() - start - setup - result.seconds
        preview = result.timings.get("preview", 0.0)
        steps += result.seconds - preview
        previews += preview
    total = time.perf_counter() - start
    outside = total - steps
    return {"full_run_s": round(total, 1), "full_run_steps": config.steps,
            "outside_steps_s": round(outside, 2), "outside_fraction": round(outside / total, 3),
            "outside_setup_s": round(setup, 2), "outside_before_step1_s": round(before_first, 2),
            "outside_previews_s": round(previews, 2),
            "outside_other_s": round(outside - setup - before_first - previews, 2)}


def clip_only_ms(model: HeadModel, guide, config: RunConfig, device: str) -> float:
    """CLIP loss forward+backward on fixed renders of the same batch: the cost floor."""
    generator = torch.Generator().manual_seed(0)
    cameras = Cameras.sample_views(generator, config.views, device=device)
    with torch.no_grad():
        head = model.neutral().to(device)
        images = Optimization(model, guide, config).model_render(
            head, model.decode(head), cameras, Lights.default(config.views, device=device), 0.5)
    rgb = images.rgb.clone().requires_grad_(True)

    def clip_step():
        terms = guide.loss(rgb, images.alpha, PROMPT, generator=generator,
                           n_augment=config.augmentations)
        terms["clip"].backward()

    return median_ms(clip_step, repeats=8, warmup=2)


if __name__ == "__main__":
    main()
