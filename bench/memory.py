"""Resident memory of one process after each of several pairs of concurrent short runs, with or
without giving freed heap back to the OS after each pair (what the studio does when a
session's events end, `text2head.studio.memory`); prints one JSON line.

Run: python bench/memory.py [--pairs 15] [--steps 5] [--no-release] [--clip random:tiny]
Two runs at a time in threads, as the app runs them (TEXT2HEAD_MAX_RUNS=2), each writing its
files to a temporary folder. The default guide is the random tiny CLIP, a test fixture: the
figures are about the allocator, not about result quality.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from text2head import api
from text2head.heads import HeadModel
from text2head.studio.memory import release_freed_memory

PROMPTS = ("an old man with a big nose, laughing", "a young woman with long red hair, smiling",
           "a bald man with a thick beard, angry", "a surprised child with wide eyes")


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or at its highest so far (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--clip", default="random:tiny")
    parser.add_argument("--no-release", action="store_true",
                        help="leave freed heap to the allocator (the app before the fix)")
    args = parser.parse_args()
    model = HeadModel()
    guide = api.load_guide(args.clip, "cpu")
    release = not args.no_release

    def run(seed: int, folder: Path) -> None:
        optimization = api.prepare(PROMPTS[seed % len(PROMPTS)], clip=guide, model=model,
                                   steps=args.steps, views=1, seed=seed)
        api.finish(optimization, [step.losses for step in optimization], folder / str(seed))

    per_pair, release_ms = [], []
    with tempfile.TemporaryDirectory() as folder:
        for pair in range(args.pairs):
            threads = [threading.Thread(target=run, args=(2 * pair + k, Path(folder)))
                       for k in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if release:
                began = time.perf_counter()
                release_freed_memory()
                release_ms.append(1000 * (time.perf_counter() - began))
            per_pair.append(round(rss_mb()))
    later = per_pair[len(per_pair) // 3:]  # after the first runs' one-off allocations
    print(json.dumps({
        "bench": "memory", "clip": guide.description, "release": release, "pairs": args.pairs,
        "steps": args.steps, "rss_mb_per_pair": per_pair,
        "rss_mb_later_min": min(later), "rss_mb_later_max": max(later),
        "rss_mb_later_median": statistics.median(later), "rss_mb_peak": round(rss_mb("VmHWM")),
        "release_ms_median": round(statistics.median(release_ms), 2) if release_ms else None,
    }))


if __name__ == "__main__":
    main()
