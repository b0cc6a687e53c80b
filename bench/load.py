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
import concurrent.futures
import math
import sys
import time

import hosting
from hosting import (
    CALL_SECONDS,
    MAX_RUNS,
    PROMPTS,
    App,
    RunRecord,
    Workspace,
    check,
    close,
    connect,
    generate,
    measured,
    percentile,
    rounded,
)


def run_load(clients: int = 8, steps: int = 5, views: int = 1, keep: bool = False) -> dict:
    """`clients` gradio_client sessions submit a short run each at once to one app, which runs
    MAX_RUNS at a time and queues the rest. Limits: every run completes with its GLB, and
    every client that waited was told its queue position at least once."""

    def measure(work: Workspace, figures: dict) -> None:
        figures.update(clients=clients, steps=steps, views=views, max_runs=MAX_RUNS)
        # The pool outlives the app: on the way out the app is killed first, which ends every
        # client's stream, so that waiting for the pool's threads cannot hang.
        with concurrent.futures.ThreadPoolExecutor(clients) as pool, App(work) as app:
            figures["startup_s"] = rounded(app.start(), 1)
            folders = [work.client_folder(f"load-{i}") for i in range(clients)]
            connecting = [pool.submit(connect, app.url, folder) for folder in folders]
            try:
                sessions = [future.result(timeout=CALL_SECONDS) for future in connecting]
                began = time.monotonic()
                futures = [pool.submit(generate, client, PROMPTS[i % len(PROMPTS)], i,
                                       steps=steps, views=views, label=f"client {i}")
                           for i, client in enumerate(sessions)]
                records = [future.result() for future in futures]  # each has a timeout
                wall = time.monotonic() - began
                figures["rss_mb_peak"] = rounded(app.peak_rss_mb(), 1)
            finally:
                for future, folder in zip(connecting, folders, strict=True):
                    if future.done() and not future.exception():
                        close(future.result(), folder)
        load_figures(figures, records, began, wall)

    return measured("load", measure, keep)


def load_figures(figures: dict, records: list[RunRecord], began: float, wall: float) -> None:
    """Figures and limits of the load run. Whether a client waited is judged from outside,
    whatever the app's queue says: all submit at once, so a run that does not wait starts
    within a second or so, while one that waits starts only once another run has ended, about
    a whole run later. A client waited when its run started later than half the shortest run
    (start to completion, as the clients saw them); the clients' view of a completion lags
    (the final files download first), so it is not compared with the starts directly."""
    def since(record: RunRecord, seconds: float | None) -> float | None:
        return None if seconds is None else record.submitted_at - began + seconds

    ends = [since(r, r.finished) for r in records]
    first = [r.first_update for r in records if r.first_update is not None]
    shortest = min((r.finished - r.started for r in records
                    if r.started is not None and r.finished is not None), default=math.inf)
    waited = [r.started is not None and since(r, r.started) > shortest / 2 for r in records]
    figures.update(
        completed=sum(r.completed for r in records),
        glbs_ok=sum(r.glb_ok for r in records),
        first_update_p50_s=rounded(percentile(first, 0.50)),
        first_update_p95_s=rounded(percentile(first, 0.95)),
        total_wall_s=rounded(wall, 1),
        shortest_run_s=rounded(shortest if shortest < math.inf else None, 1),
        waited=sum(waited),
        waited_told_position=sum(w and r.max_position() is not None
                                 for w, r in zip(waited, records, strict=True)),
        # Per client, in order: the furthest queue position it was told (1-based, as the page
        # shows it) and the queue's size then, whether it waited, and when (seconds after the
        # first submit) its run started and the app said it was complete.
        queue_positions=[
            {"told": r.max_position(),
             "of": max((size or 0 for _, size in r.positions), default=None), "waited": w,
             "started_s": rounded(since(r, r.started), 1), "finished_s": rounded(end, 1)}
            for r, w, end in zip(records, waited, ends, strict=True)],
        errors=[f"{r.label}: {r.error}" for r in records if r.error],
    )
    clients = len(records)
    check(figures, figures["completed"] == clients,
          f"only {figures['completed']} of {clients} runs completed with their GLB")
    check(figures, figures["waited"] >= clients - MAX_RUNS,
          f"only {figures['waited']} clients waited: the app ran more than {MAX_RUNS} at once")
    check(figures, figures["waited_told_position"] == figures["waited"],
          f"{figures['waited'] - figures['waited_told_position']} of {figures['waited']} "
          "waiting clients were never told their queue position")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the private folder")
    parser.add_argument("--limit-s", type=float, default=3600, help="the whole run's limit")
    args = parser.parse_args()
    with hosting.guarded(args.limit_s):
        figures = run_load(args.clients, args.steps, args.views, keep=args.keep)
    print(hosting.figures_line(figures))
    return hosting.exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
