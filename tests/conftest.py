"""Shared fixtures: the built-in head model, and anny itself as the reference it must match."""

from __future__ import annotations

import warnings

import pytest
import torch

from text2head.heads import HeadModel


@pytest.fixture(scope="session")
def head_model() -> HeadModel:
    return HeadModel()


@pytest.fixture(scope="session")
def anny_model():
    """anny's own head model (dev dependency). A cold build takes ~1 min and ~3.5 GB RAM."""
    from text2head.heads.build import load_anny

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_anny()


@pytest.fixture(scope="session")
def studio_app(tmp_path_factory, head_model):
    """(url, studio) of one in-process app shared by the app tests (starting one costs
    seconds and memory): the random tiny CLIP, sessions in a private Gradio cache folder, as
    `python app.py` keeps them."""
    from app_server import running_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
        with running_app(None, head_model) as app:
            yield app


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


# ----- the test process's peak memory (issue 15: at most 4 GB), reported after every run -------
_RAISED_PEAK: list[tuple[int, str]] = []  # (kB the test raised the peak by, test id)


def _peak_kb() -> int:
    """VmHWM, the process's highest resident memory so far (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = _peak_kb()
    yield
    raised = _peak_kb() - before
    if raised > 0:
        _RAISED_PEAK.append((raised, item.nodeid))


def pytest_terminal_summary(terminalreporter):
    if not _peak_kb():
        return
    top = sorted(_RAISED_PEAK, reverse=True)[:5]
    terminalreporter.write_line(
        f"peak memory of the test process: {_peak_kb() / 1024:.0f} MB; raised most by "
        + ", ".join(f"{test} (+{kb / 1024:.0f} MB)" for kb, test in top))
