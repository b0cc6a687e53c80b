"""Prompt reader quality and cost over the labelled table of tests/test_understand.py: precision
and recall per attribute family and overall, and milliseconds per prompt for `understand` and
for `understand` + `instant_head`, seeded variety over 16 seeds of "a man", "a woman" and "a
portrait" (distinct hair styles and colours, face spread against random heads, and any stated
attribute of the table that moves with the seed), and the cost of CLIP's zero-shot attributes
(random weights of the real architecture: the same cost as real ones, labelled); prints one
JSON line.

Run: python bench/understand.py [--repeats 5] [--clip random:ViT-B-32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_understand import CASES, score  # noqa: E402
from test_variety import variety_figures  # noqa: E402

from text2head.guidance import CLIPGuide, load_clip  # noqa: E402
from text2head.guidance.attributes import with_zero_shot  # noqa: E402
from text2head.heads import HeadModel  # noqa: E402
from text2head.instant import instant_head  # noqa: E402
from text2head.understand import understand  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the table")
    parser.add_argument("--clip", default="random:ViT-B-32")
    args = parser.parse_args()
    model = HeadModel()
    prompts = [prompt for prompt, _ in CASES]
    read_ms, instant_ms = [], []
    with torch.no_grad():
        for _ in range(args.repeats):
            for prompt in prompts:
                start = time.perf_counter()
                understanding = understand(prompt)
                read = time.perf_counter()
                instant_head(model, understanding)
                read_ms.append((read - start) * 1000)
                instant_ms.append((time.perf_counter() - start) * 1000)
    quality = score()
    figures = {
        "cases": len(CASES),
        "precision": round(quality["overall"]["precision"], 3),
        "recall": round(quality["overall"]["recall"], 3),
        "families": {family: {k: round(v, 3) for k, v in figures.items()}
                     for family, figures in quality.items() if family != "overall"},
        "understand_ms": {"mean": round(statistics.mean(read_ms), 3),
                          "max": round(max(read_ms), 3)},
        "understand_instant_ms": {"mean": round(statistics.mean(instant_ms), 3),
                                  "max": round(max(instant_ms), 3)},
        **zero_shot_ms(args.clip, prompts[:20]),
        "variety": variety_figures(model),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(figures, ensure_ascii=False))


def zero_shot_ms(clip: str, prompts: list[str]) -> dict:
    """Milliseconds of `with_zero_shot`: the first prompt (which also encodes the phrase bank,
    once per model) and the median of the others."""
    guide = CLIPGuide(load_clip(clip))
    times = []
    with torch.no_grad():
        for prompt in prompts:
            start = time.perf_counter()
            with_zero_shot(understand(prompt), guide)
            times.append((time.perf_counter() - start) * 1000)
    return {"zero_shot_clip": guide.description, "zero_shot_first_ms": round(times[0], 1),
            "zero_shot_ms": round(statistics.median(times[1:]), 1)}


if __name__ == "__main__":
    main()
