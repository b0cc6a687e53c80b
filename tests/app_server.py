"""Start the studio app for tests: in-process on a free loopback port (closed afterwards), or as
`python app.py` in a subprocess, exactly as a person or a Space starts it."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from text2head.heads import HeadModel
from text2head.studio import Studio

ROOT = Path(__file__).resolve().parents[1]
CLIP = "random:tiny"
STARTUP_SECONDS = 180  # imports and the first page on a busy 2-core machine
HARNESS = "hosting"  # bench/hosting.py, the harness of bench/load.py, soak.py and faults.py
STOP_SECONDS = 180  # Ctrl-C to exit on a busy 2-core machine (runs end their step first)
ABORT_SECONDS = 30  # SIGABRT to exit, the fault handler's stacks written


def load_app():
    """The `app` module from the repository root (not an installed package)."""
    spec = importlib.util.spec_from_file_location("text2head_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(root: Path | None, model: HeadModel | None = None
                ) -> Iterator[tuple[str, Studio]]:
    """(url, studio) of the app with the random tiny CLIP, its sessions under `root` (None:
    in Gradio's cache folder, as `python app.py` keeps them), sharing `model` if given."""
    app = load_app()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXT2HEAD_CLIP", CLIP)
        patch.delenv("TEXT2HEAD_CLIP_CHOICES", raising=False)
        studio = Studio(model=model, root=root, device="cpu")
        demo = app.build_app(studio)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1",
                            server_port=free_port(), quiet=True, **app.launch_options(studio))
    try:
        yield url, studio
    finally:
        demo.close()
        studio.close()


@contextlib.contextmanager
def app_process(env: dict[str, str]) -> Iterator[str]:
    """URL of `python app.py` started with `env` added; stopped with Ctrl-C afterwards, and
    waited for (on a busy machine too) until it has exited, so that what it cleans up at
    shutdown is gone when this returns. Its output is read as it comes (a full pipe would
    block the app) and shown if it fails to start or to stop; one that does not stop is
    aborted with Python's fault handler on, so that the failure shows where every thread of
    it was waiting."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONFAULTHANDLER": "1", **env}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        _wait_until_up(url, process, output, reader)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            _abort_with_stacks(process)
            reader.join(5)
            pytest.fail(f"app.py did not exit within {STOP_SECONDS} s of Ctrl-C; its threads "
                        f"when it was aborted:\n{''.join(output)[-12000:]}")
        reader.join(5)


def _abort_with_stacks(process: subprocess.Popen) -> None:
    """SIGABRT, on which the fault handler writes every thread's stack to stderr before the
    process dies; killed outright if even that does not end it."""
    process.send_signal(signal.SIGABRT)
    try:
        process.wait(timeout=ABORT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, output: list[str],
                   reader: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reader.join(5)  # the output up to the end
            pytest.fail(f"app.py exited with {process.returncode}:\n{''.join(output)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"app.py did not answer at {url} within {STARTUP_SECONDS} s")


def load_bench(name: str):
    """A module of bench/ (the hosting harness, say), loaded by path: bench/ is not a package,
    and putting it on sys.path would let its scripts (app.py…) shadow other modules. The
    hosting scripts import their harness as `hosting` (their own folder is on sys.path when
    they run as scripts), so the harness is loaded first and known by that name too."""
    module_name = f"text2head_bench_{name}"
    if module_name not in sys.modules:
        if name != HARNESS:
            sys.modules.setdefault(HARNESS, load_bench(HARNESS))
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while defined
        spec.loader.exec_module(module)
    return sys.modules[module_name]
