"""A small version of the fault run (issue #10, point 5; issue 15) through the same harness
as bench/faults.py: visitors killed mid-run, a quiet HTTP-only caller, uploads and text that
must be refused, and SIGTERM mid-run leave nothing behind. It starts `python app.py` with the
random tiny CLIP (a test fixture) in a private folder; the figures, with the failed limits and
the app's log tail, are the failure message. The long harness runs (load, a 200-run soak, the
restart) stay in bench/ (bench/load.py, bench/soak.py, bench/faults.py): minutes each."""

from __future__ import annotations

import pytest
from app_server import load_bench

pytestmark = pytest.mark.slow
hosting = load_bench("hosting")
faults = load_bench("faults")


def explain(figures: dict) -> str:
    lines = [*figures["failures"], figures.get("error", "")]
    return "\n".join(line for line in lines if line) + "\n" + hosting.figures_line(figures)


def test_killed_visitors_quiet_callers_bad_uploads_and_sigterm_leave_nothing_behind():
    figures = faults.run_faults(restart=False)
    assert figures["ok"], explain(figures)
    assert figures["http_only"]["glb_served"] and "restart" not in figures
