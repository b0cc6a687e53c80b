"""Evaluate text2head on a prompt set with CLIP models other than the guiding one.

For every prompt and seed it optimizes a head, renders the best head from fixed views
(front, three-quarter, left; no augmentation) and scores it with each judge model:
CLIP score (100 * cos, mean over views) and R-precision (does the judge rank the head's own
prompt first among all prompts of the set?). Prints one JSON line; writes one CSV row per
(prompt, seed, judge).

Run: python bench/evaluate.py --prompts assets/prompts/dev.txt --seeds 3
(needs real CLIP weights for meaningful numbers; `random:ARCH` specs run it end to end with
random weights, which the output labels.)
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from text2head import api
from text2head.guidance import load_clip, r_precision
from text2head.heads import HeadModel
from text2head.optimize import SCORE_VIEWS
from text2head.preview import render_head
from text2head.render import Cameras

DEFAULT_JUDGES = "ViT-B-16:laion2b_s34b_b88k,ViT-L-14:laion2b_s32b_b82k"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, default=Path("assets/prompts/dev.txt"))
    parser.add_argument("--limit", type=int, default=0, help="use only the first N prompts")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--guide", default=None, help="guiding CLIP spec (default as generate)")
    parser.add_argument("--judges", default=DEFAULT_JUDGES, help="comma-separated CLIP specs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--csv", type=Path, default=Path("evaluation.csv"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    prompts = api.read_prompts(args.prompts)[: args.limit or None]
    model = HeadModel().to(args.device)
    guide = api.load_guide(args.guide, args.device)
    specs = [spec.strip() for spec in args.judges.split(",")]
    judges = {_judge_name(spec, i, specs): load_clip(spec, args.device)
              for i, spec in enumerate(specs)}
    cameras = Cameras.named_views(SCORE_VIEWS, device=args.device)
    start = time.perf_counter()
    rows, embeddings = [], {name: {} for name in judges}
    for seed in range(args.seeds):
        for prompt in prompts:
            result = api.generate(prompt, clip=guide, model=model, seed=seed,
                                  steps=args.steps, views=args.views)
            with torch.no_grad():
                images = render_head(model, result.head, cameras, resolution=224)
            for name, judge in judges.items():
                image_emb = judge.encode_images(images)
                score = float(100 * (image_emb @ judge.encode_text([prompt])[0]).mean())
                embeddings[name][(seed, prompt)] = torch.nn.functional.normalize(
                    image_emb.mean(dim=0), dim=-1)
                rows.append({"prompt": prompt, "seed": seed, "judge": name,
                             "clip_score": round(score, 4), "best_step": result.best_step})
    write_csv(args.csv, rows)
    summary = {
        "guide": guide.description,
        "judges": [j.description for j in judges.values()],
        "random_weights": guide.is_random or any(j.is_random for j in judges.values()),
        "prompts": len(prompts),
        "seeds": args.seeds,
        "steps": args.steps,
        "clip_score": {},
        "clip_score_sd": {},
        "r_precision": {},
        "seconds": round(time.perf_counter() - start, 1),
        "csv": str(args.csv),
    }
    for name, judge in judges.items():
        scores = [r["clip_score"] for r in rows if r["judge"] == name]
        summary["clip_score"][name] = round(statistics.mean(scores), 3)
        summary["clip_score_sd"][name] = round(statistics.pstdev(scores), 3)
        summary["r_precision"][name] = round(
            judge_r_precision(judge, prompts, embeddings[name], args.seeds), 3)
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def judge_r_precision(judge, prompts: list[str], embeddings: dict, seeds: int) -> float:
    """Mean over seeds of the fraction of heads whose own prompt the judge ranks first."""
    text = judge.encode_text(prompts)
    values = [r_precision(torch.stack([embeddings[(seed, p)] for p in prompts]), text)
              for seed in range(seeds)]
    return statistics.mean(values)


def _judge_name(spec: str, index: int, specs: list[str]) -> str:
    """The spec, numbered when the same spec is given twice (e.g. two random models)."""
    return spec if specs.count(spec) == 1 else f"{spec}#{index + 1}"


def write_csv(path: Path, rows: list[dict]) -> None:
    from text2head.io import atomic_write

    with atomic_write(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "seed", "judge", "clip_score", "best_step"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
