"""bench/evaluate.py end to end, with random tiny CLIP models as guide and judges."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_evaluate_runs_end_to_end(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("an old man\n# a comment\n\na zombie\n")
    table = tmp_path / "eval.csv"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "evaluate.py"), "--prompts", str(prompts),
         "--seeds", "2", "--steps", "2", "--guide", "random:tiny",
         "--judges", "random:tiny,random:tiny", "--csv", str(table)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["random_weights"] is True
    assert all("RANDOM WEIGHTS" in text for text in (summary["guide"], *summary["judges"]))
    assert set(summary["r_precision"]) == {"random:tiny#1", "random:tiny#2"}
    for value in summary["r_precision"].values():
        assert 0.0 <= value <= 1.0
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 2 * 2 * 2  # prompts x seeds x judges
    assert {row["prompt"] for row in rows} == {"an old man", "a zombie"}
    scores = {row["judge"]: float(row["clip_score"]) for row in rows}
    assert all(-100.0 <= score <= 100.0 for score in scores.values())


def test_prompt_set_is_large_enough():
    from text2head.api import read_prompts

    prompts = read_prompts(ROOT / "assets" / "prompts" / "dev.txt")
    assert len(prompts) >= 40 and len(set(prompts)) == len(prompts)
