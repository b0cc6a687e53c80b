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
import shutil
import statistics
import sys
import time

import hosting
from hosting import (
    BASELINE_TOLERANCE_BYTES,
    FLAT_TOLERANCE_BYTES,
    PROMPTS,
    SETTLE_SECONDS,
    App,
    Workspace,
    app_bytes,
    check,
    close,
    connect,
    generate,
    measured,
    rounded,
    wait_for_bytes,
)

MIN_FREE_BYTES = 2 * 2**30  # the soak stops early rather than fill the disk (Gradio's cache)
RSS_GROWTH_LIMIT = 5.0  # percent, from the reference run to the end
# RSS after a run swings by ~±10% from one run to the next (the prompts' parts, the allocator's
# arenas), so each end of the growth is the median of this many runs (one client's, by default)
# rather than one sample: the runs up to the reference run, and the last runs.
RSS_WINDOW = 5
FAILED_IN_A_ROW = 3  # the soak stops after this many failed runs in a row


def run_soak(runs: int = 200, per_client: int = 5, reference_run: int = 20, steps: int = 5,
             views: int = 1, settle_seconds: float = SETTLE_SECONDS,
             rss_growth_limit: float = RSS_GROWTH_LIMIT, keep: bool = False) -> dict:
    """`runs` short runs back to back from rotating sessions (a new client every `per_client`
    runs, the old one closed), sampling after each run the app's RSS and the bytes under its
    TMPDIR and GRADIO_TEMP_DIR. Limits: every run completes; RSS grows less than
    RSS_GROWTH_LIMIT percent from the reference run to the end; neither folder's maximum after
    the reference run exceeds its value there by more than FLAT_TOLERANCE_BYTES; once the last
    client has closed, both return within BASELINE_TOLERANCE_BYTES of the bytes before the
    first run within `settle_seconds`. The reference run is `reference_run` (the app warmed
    up), or half the runs when there are fewer. RSS at the reference run and at the end are
    medians of RSS_WINDOW runs (fewer when the runs are few). `rss_growth_limit` (percent) is
    for small runs, whose RSS has not settled yet (see figures["rss_mb_per_run"])."""
    reference = min(reference_run, max(1, runs // 2))

    def measure(work: Workspace, figures: dict) -> None:
        figures.update(runs=runs, per_client=per_client, reference_run=reference, steps=steps,
                       views=views, rss_growth_limit_pct=rss_growth_limit,
                       flat_tolerance_bytes=FLAT_TOLERANCE_BYTES,
                       baseline_tolerance_bytes=BASELINE_TOLERANCE_BYTES)
        samples: list[dict] = []
        errors: list[str] = []
        with App(work) as app:
            figures["startup_s"] = rounded(app.start(), 1)
            baseline = app_bytes(work)
            client = folder = None
            began = time.monotonic()
            try:
                for run in range(1, runs + 1):
                    if (run - 1) % per_client == 0:
                        close(client, folder)
                        client = None
                        folder = work.client_folder(f"soak-{run:04d}")
                        client = connect(app.url, folder)
                    if shutil.disk_usage(work.root).free < MIN_FREE_BYTES:
                        figures["stopped_early"] = f"less than {MIN_FREE_BYTES} B free on disk"
                        break
                    record = generate(client, PROMPTS[run % len(PROMPTS)], run, steps=steps,
                                      views=views, label=f"run {run}")
                    samples.append({"run": run, "ok": record.completed, "rss_mb": app.rss_mb(),
                                    **app_bytes(work)})
                    if record.error:
                        errors.append(f"{record.label}: {record.error}")
                    if not app.alive():
                        figures["stopped_early"] = "the app exited"
                        break
                    if len(samples) >= FAILED_IN_A_ROW and not any(
                            s["ok"] for s in samples[-FAILED_IN_A_ROW:]):
                        figures["stopped_early"] = f"{FAILED_IN_A_ROW} failed runs in a row"
                        break
            finally:
                close(client, folder)
            wall = time.monotonic() - began
            figures["errors"] = errors[:10]
            # The runs' pace, measured before the wait below.
            figures["seconds_per_run"] = rounded(wall / max(1, len(samples)))
            after = wait_for_bytes(work, baseline, BASELINE_TOLERANCE_BYTES, settle_seconds)
            figures["rss_mb_after_close"] = rounded(app.rss_mb(), 1)
            figures["rss_mb_peak"] = rounded(app.peak_rss_mb(), 1)
        soak_figures(figures, samples, baseline, after, settle_seconds)

    return measured("soak", measure, keep)


def soak_figures(figures: dict, samples: list[dict], baseline: dict[str, int], after: dict,
                 settle_seconds: float) -> None:
    runs, reference = figures["runs"], figures["reference_run"]
    completed = sum(s["ok"] for s in samples)
    figures["completed"] = completed
    check(figures, completed == runs, f"only {completed} of {runs} runs completed")
    if len(samples) < reference:
        check(figures, False, f"no sample at the reference run {reference}")
        return
    at_ref, end, later = samples[reference - 1], samples[-1], samples[reference:]
    window = max(1, min(RSS_WINDOW, reference, len(samples) - reference))
    rss_ref = [s["rss_mb"] for s in samples[reference - window:reference]]
    rss_end = [s["rss_mb"] for s in samples[-window:]]
    figures["rss_mb_per_run"] = [None if s["rss_mb"] is None else round(s["rss_mb"])
                                 for s in samples]
    if None in rss_ref or None in rss_end:
        check(figures, False, "the app had exited: no RSS to compare")
        return
    growth = 100 * (statistics.median(rss_end) - statistics.median(rss_ref)) / statistics.median(
        rss_ref)
    figures.update(rss_window=window, rss_mb_at_reference=rounded(statistics.median(rss_ref), 1),
                   rss_mb_end=rounded(statistics.median(rss_end), 1),
                   rss_growth_pct=rounded(growth))
    limit = figures["rss_growth_limit_pct"]
    check(figures, growth < limit,
          f"RSS grew {growth:.1f}% from run {reference} to the end (limit {limit}%)")
    for name, label in (("tmp", "TMPDIR"), ("gradio", "GRADIO_TEMP_DIR")):
        most = max((s[name] for s in later), default=at_ref[name])
        figures[f"{name}_bytes"] = {"baseline": baseline[name], "at_reference": at_ref[name],
                                    "max_after": most, "end": end[name],
                                    "after_close": after[f"{name}_bytes"]}
        check(figures, most <= at_ref[name] + FLAT_TOLERANCE_BYTES,
              f"{label} not flat: {most} B after run {reference}, {at_ref[name]} B at it "
              f"(tolerance {FLAT_TOLERANCE_BYTES} B)")
        check(figures, after[f"{name}_bytes"] <= baseline[name] + BASELINE_TOLERANCE_BYTES,
              f"{label} holds {after[f'{name}_bytes']} B {after['waited_s']} s after the last "
              f"client closed; {baseline[name]} B before the first run")
    figures["settle_s"] = after["settled_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--per-client", type=int, default=5, help="runs per client session")
    parser.add_argument("--reference-run", type=int, default=20,
                        help="the warmed-up run growth is measured from (at most runs/2)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--settle-s", type=float, default=hosting.SETTLE_SECONDS)
    parser.add_argument("--rss-growth-limit", type=float, default=RSS_GROWTH_LIMIT,
                        help="percent, from the reference run to the end")
    parser.add_argument("--keep", action="store_true", help="keep the private folder")
    parser.add_argument("--limit-s", type=float, default=6 * 3600, help="the whole run's limit")
    args = parser.parse_args()
    with hosting.guarded(args.limit_s):
        figures = run_soak(args.runs, args.per_client, args.reference_run, args.steps,
                                   args.views, args.settle_s, args.rss_growth_limit,
                                   keep=args.keep)
    print(hosting.figures_line(figures))
    return hosting.exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
