"""Do renders read as faces? MediaPipe's face detector and face mesh (tests/face_check.py) on the
front, three-quarter and left (profile) preview views at 384 px of 20 random heads (seeds 0-19):
prints one JSON line with, per view, the min / median / max detection score, how many heads reach
the threshold of issue 16 (front and three-quarter >= 0.9, profile >= 0.75), how many the face
mesh fits, and the worst heads.

Run: python bench/faces.py [--sheet worst.png]   (needs mediapipe==0.10.14, see scripts/test.sh)
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
from face_check import RESOLUTION, SEEDS, THRESHOLDS, FaceChecker, check_heads  # noqa: E402

from text2head.heads import HeadModel  # noqa: E402
from text2head.preview import contact_sheet  # noqa: E402

WORST = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, help="save the worst renders side by side here")
    args = parser.parse_args()
    model = HeadModel()
    checker = FaceChecker()
    start = time.perf_counter()
    rows = list(check_heads(model, checker))  # (seed, view, image, check)
    seconds = time.perf_counter() - start
    checker.close()
    report: dict[str, object] = {"heads": len(SEEDS), "resolution": RESOLUTION,
                                 "seconds": round(seconds, 1)}
    for view, threshold in THRESHOLDS.items():
        checks = [check for _, row_view, _, check in rows if row_view == view]
        scores = [check.score for check in checks]
        report[view] = {
            "threshold": threshold,
            "min": round(min(scores), 3),
            "median": round(statistics.median(scores), 3),
            "max": round(max(scores), 3),
            "passing": sum(score >= threshold for score in scores),
            "mesh_fits": sum(check.mesh_fits for check in checks),
        }
    # Worst by how far the score falls short of its view's threshold.
    worst = sorted(rows, key=lambda row: row[3].score - THRESHOLDS[row[1]])[:WORST]
    report["worst"] = [[seed, view, round(check.score, 3)] for seed, view, _, check in worst]
    if args.sheet:
        images = torch.stack([torch.from_numpy(image).permute(2, 0, 1) for *_, image, _ in worst])
        contact_sheet(images.float() / 255).save(args.sheet)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
