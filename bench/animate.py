"""What `text2head animate` costs per clip (issue 18: at most 3 s each): prints one JSON line.

For 5 random heads (seeds 0-4, each given an expression so that the expression clip has one
to perform) and each clip, times `api.animate(head, one clip, out)` as the CLI runs it
(`CLIP_total_s`: the animated GLB with 1024 px textures, the animated preview and, for talk,
the viseme JSON), then its stages on their own: `CLIP_animated_glb_s` (the clip's keys, the
head's meshes and the GLB written with the animation: what makes the clip) and
`CLIP_preview_s` (the animated WebP, `CLIP_preview_frames` rendered frames), with the split
`clip_ms`, `meshes_s` and `glb_s`.

Run: python bench/animate.py [--device cpu|cuda] [--heads 5] [--texture-size 1024]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from text2head import api
from text2head.animation.clips import CLIP_NAMES
from text2head.animation.preview import frame_times, render_frames
from text2head.animation.request import AnimationRequest, head_clips
from text2head.export import export_glb
from text2head.heads import HeadModel

LINE = "Hello! My name is Ada, and I was made from a sentence."
LIMIT_S = 3.0
SMILE = {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6, "cheekSquintLeft": 0.3,
         "cheekSquintRight": 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--heads", type=int, default=5)
    parser.add_argument("--texture-size", type=int, default=1024)
    args = parser.parse_args()
    model = HeadModel().to(args.device)
    names = model.specs["expression"].names
    totals: dict[str, list[float]] = {name: [] for name in CLIP_NAMES}
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.heads):
            head = model.sample(torch.Generator().manual_seed(seed)).to(args.device)
            head.expression.zero_()
            for name, value in SMILE.items():
                head.expression[:, names.index(name)] = value
            for clip_name in CLIP_NAMES:
                request = AnimationRequest((clip_name,), LINE if clip_name == "talk" else None,
                                           seed)
                out = Path(folder) / f"{seed}-{clip_name}"
                began = time.perf_counter()
                api.animate(head, request, out, model=model, texture_size=args.texture_size)
                totals[clip_name].append(time.perf_counter() - began)
                for stage, value in _stages(model, head, request, out,
                                            args.texture_size).items():
                    stages.setdefault(f"{clip_name}_{stage}", []).append(value)
    figures: dict[str, object] = {"device": args.device, "heads": args.heads,
                                  "texture_size": args.texture_size, "line_chars": len(LINE)}
    for clip_name, seconds in totals.items():
        figures[f"{clip_name}_median_s"] = round(statistics.median(seconds), 2)
        figures[f"{clip_name}_max_s"] = round(max(seconds), 2)
    figures.update({name: round(statistics.median(values), 3) for name, values in stages.items()})
    worst = max(max(seconds) for seconds in totals.values())
    worst_glb = max(max(values) for name, values in stages.items()
                    if name.endswith("animated_glb_s"))
    figures.update(limit_s=LIMIT_S, worst_total_s=round(worst, 2),
                   total_within_limit=worst <= LIMIT_S, worst_animated_glb_s=round(worst_glb, 2),
                   animated_glb_within_limit=worst_glb <= LIMIT_S,
                   threads=torch.get_num_threads(), torch=torch.__version__)
    print(json.dumps(figures))


def _stages(model: HeadModel, head, request: AnimationRequest, out: Path,
            texture_size: int) -> dict[str, float]:
    began = time.perf_counter()
    [clip] = head_clips(model, head, request)
    keyed = time.perf_counter()
    meshes = model.to_meshes(head, texture_size=texture_size)
    meshed = time.perf_counter()
    export_glb(meshes, out / "stage.glb", [clip])
    written = time.perf_counter()
    render_frames(model, head, clip)
    previewed = time.perf_counter()
    return {"clip_ms": 1000 * (keyed - began), "meshes_s": meshed - keyed,
            "glb_s": written - meshed, "animated_glb_s": written - began,
            "preview_s": previewed - written,
            "preview_frames": float(len(frame_times(clip)[0])), "clip_keys": float(len(clip.times)),
            "clip_seconds": clip.duration}


if __name__ == "__main__":
    main()
