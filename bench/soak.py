"""Back-to-back short runs from rotating sessions against one `python app.py`: memory and
files over time; prints one JSON line, exits 1 if a limit fails (2: could not measure).

Run: python bench/soak.py [--runs 200] [--per-client 5] [--reference-run 20] [--keep]
     [--rss-growth-limit 5] [--settle-s 60]
One app subprocess with the random tiny CLIP (a test fixture, labelled in the output), its
TMPDIR and GRADIO_TEMP_DIR private folders; a new gradio_client session every --per-client runs
(the old one closed). After each run: the app's RSS (VmRSS) and the bytes under both folders.
Figures: RSS at the reference run and at the end (medians of the 5 runs up to each: RSS swings
~±10% run to run) and its growth, and RSS after every run; the bytes of each folder before the
first run, at the reference run, their maximum after it, at the end and once the last client
has closed; seconds per run. Limits: every run completes; RSS grows < 5% from the reference run
to the end; each folder stays flat after the reference run (within
hosting.FLAT_TOLERANCE_BYTES: the files of two live sessions) and returns within
hosting.BASELINE_TOLERANCE_BYTES of its bytes before the first run within 60 s of the last
client closing. 200 runs take ~40 min on 2 cores (the soak stops early below 2 GB free disk).
"""

from __future__ import annotations

import argparse
import sys

import hosting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--per-client", type=int, default=5, help="runs per client session")
    parser.add_argument("--reference-run", type=int, default=20,
                        help="the warmed-up run growth is measured from (at most runs/2)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--settle-s", type=float, default=hosting.SETTLE_SECONDS)
    parser.add_argument("--rss-growth-limit", type=float, default=hosting.RSS_GROWTH_LIMIT,
                        help="percent, from the reference run to the end")
    parser.add_argument("--keep", action="store_true", help="keep the private folder")
    parser.add_argument("--limit-s", type=float, default=6 * 3600, help="the whole run's limit")
    args = parser.parse_args()
    with hosting.guarded(args.limit_s):
        figures = hosting.run_soak(args.runs, args.per_client, args.reference_run, args.steps,
                                   args.views, args.settle_s, args.rss_growth_limit,
                                   keep=args.keep)
    print(hosting.figures_line(figures))
    return hosting.exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
