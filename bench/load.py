"""Concurrent sessions against one `python app.py`: queue positions, time to first update and
completion of every run; prints one JSON line, exits 1 if a limit fails (2: could not measure).

Run: python bench/load.py [--clients 8] [--steps 5] [--views 1] [--keep]
N gradio_client sessions each submit a short /generate at once to one app subprocess with the
random tiny CLIP (a test fixture, labelled in the output), which runs 2 optimizations at a time
and queues the rest. Figures: clients, completed, time from submit to the first streamed output
(p50/p95, nearest rank), total wall, the furthest queue position each client was told
(1-based, as the page shows it; with the queue size then and whether it waited). Limits: every
run completes with its GLB; every client that waited was told its queue position.
"""

from __future__ import annotations

import argparse
import sys

import hosting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the private folder")
    parser.add_argument("--limit-s", type=float, default=3600, help="the whole run's limit")
    args = parser.parse_args()
    with hosting.guarded(args.limit_s):
        figures = hosting.run_load(args.clients, args.steps, args.views, keep=args.keep)
    print(hosting.figures_line(figures))
    return hosting.exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
