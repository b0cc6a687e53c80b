"""The harness of the hosting runs against `python app.py` in a subprocess (issue #10, point 5;
issue 15): the app, its private folders, clients, run records and figures. The runs are in
bench/load.py, bench/soak.py and bench/faults.py (each also a script);
tests/test_hosting_load.py runs a small fault run.

Every run starts the app as a person or a Space does (`python app.py`), with the random tiny
CLIP (a test fixture, labelled so in every figure), in a private folder the harness creates
and removes: the app's TMPDIR and GRADIO_TEMP_DIR, the clients' downloads (never inside the
app's folders, so that the app's bytes are the app's alone) and the app's stdout and stderr
(`app.log`, whose tail goes into the figures when a limit fails). The clients are
`gradio_client` sessions (in threads, or in child processes that can be killed), or a raw
HTTP caller. Everything waits with a timeout, and the app and every child process are killed
on the way out, whatever happened.

The functions return figures (dicts); they print nothing: the scripts print one JSON line.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from gradio_client import Client
from gradio_client.utils import Status

ROOT = Path(__file__).resolve().parents[1]
CLIP = "random:tiny"
CLIP_LABEL = ("random:tiny: a tiny randomly initialised CLIP, a test fixture (not a real model: "
              "the figures say nothing about run quality or real step cost)")
MAX_RUNS = 2  # optimizations the app runs at once (TEXT2HEAD_MAX_RUNS, its default); others queue
STARTUP_SECONDS = 180  # imports and the first page on a busy 2-core machine
RUN_SECONDS = 600  # one short run, its time in the queue included, on a busy 2-core machine
CALL_SECONDS = 120  # a call that optimizes nothing (/random_head, /export)
SETTLE_SECONDS = 60  # the app's time to drop the files of a client that went away
EXIT_SECONDS = 30  # the app must exit this soon after SIGTERM
POLL_SECONDS = 0.02  # a client's look at its job: queue positions last a few seconds at least
GLB_OUTPUT = 5  # index of the GLB download in /generate's outputs (app.py's run_outputs order)
RUNNING_OUTPUT = 3  # index of the weights line: set only once the optimization is running
PROMPTS = (
    "an old man with a big nose, laughing",
    "a young woman with freckles and red lips, smiling",
    "a bald man with a thick beard, angry",
    "a surprised child with wide eyes",
    "an elderly woman with wrinkles, sad",
    "a young man with short black hair",
    "a woman with long blonde hair, smiling",
    "an old woman with grey hair and glasses",
)

# Tolerances of the "flat" and "back to baseline" limits on the bytes under the app's TMPDIR
# and GRADIO_TEMP_DIR. SESSION_BYTES bounds what one live session legitimately holds: its
# folder in Gradio's cache keeps the newest three folders of each kind (after a short run: the
# run's downloads, ~28 MB, viewer GLBs, ~11 MB each, previews), ~60 MB at most. While the soak
# rotates clients, two sessions are legitimately alive at once: the client just closed (its
# session lives until the app notices that its heartbeat has gone) and the next one, already
# running: hence LIVE_SESSIONS.
SESSION_BYTES = 64 * 2**20
LIVE_SESSIONS = 2
FLAT_TOLERANCE_BYTES = LIVE_SESSIONS * SESSION_BYTES
# Once every client has gone, no session file may remain: only a few KB of whatever an idle app
# keeps (a lock file, an empty folder's entry), far below one session's smallest file.
BASELINE_TOLERANCE_BYTES = 64 * 2**10
LEFTOVERS_LISTED = 30  # leftover places listed in the figures (counts are always given)
LOG_TAIL_CHARS = 4000


class HarnessError(RuntimeError):
    """The harness could not measure (the app did not start, a client did not connect…); the
    message says what, with the app's log tail."""


# ----- folders ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Workspace:
    """The harness's private folder: the app's TMPDIR and GRADIO_TEMP_DIR, the clients'
    downloads and temporary files, and the app's logs."""

    root: Path

    @property
    def tmp(self) -> Path:
        return self.root / "app-tmp"

    @property
    def gradio(self) -> Path:
        return self.root / "app-gradio"

    @property
    def clients(self) -> Path:
        return self.root / "clients"

    def app_folders(self) -> dict[str, Path]:
        """The app's folders by the name the figures use."""
        return {"tmp": self.tmp, "gradio": self.gradio}

    def client_folder(self, name: str) -> Path:
        folder = self.clients / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@contextlib.contextmanager
def workspace(keep: bool = False) -> Iterator[Workspace]:
    """A fresh private folder, removed afterwards unless `keep`."""
    work = Workspace(Path(tempfile.mkdtemp(prefix="text2head-hosting-")))
    for folder in (work.tmp, work.gradio, work.clients):
        folder.mkdir()
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work.root, ignore_errors=True)


def tree(folder: Path) -> dict[str, int]:
    """Every file (its size) and folder (-1) under `folder`, by path relative to it; entries
    that vanish while walking are skipped."""
    entries: dict[str, int] = {}
    for parent, folders, files in os.walk(folder):
        base = Path(parent).relative_to(folder)
        for name in folders:
            entries[str(base / name)] = -1
        for name in files:
            with contextlib.suppress(OSError):
                entries[str(base / name)] = os.lstat(Path(parent, name)).st_size
    return entries


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(size for size in tree(folder).values() if size > 0)


def app_bytes(work: Workspace) -> dict[str, int]:
    """Bytes under the app's TMPDIR and GRADIO_TEMP_DIR."""
    return {name: folder_bytes(folder) for name, folder in work.app_folders().items()}


def app_entries(work: Workspace) -> dict[str, int]:
    """Every entry under the app's folders, as "tmp/…" or "gradio/…" (see `tree`)."""
    return {f"{name}/{path}": size for name, folder in work.app_folders().items()
            for path, size in tree(folder).items()}


def leftovers(entries: dict[str, int], before: dict[str, int] | None = None) -> dict:
    """Entries (of `app_entries`) not in `before`: their count, files and bytes, and where they
    are: grouped by their first three path parts (a session's folder, a cached file; empty
    folders on their own), "path/ (files, bytes)", largest first."""
    new = {path: size for path, size in entries.items() if before is None or path not in before}
    groups: dict[str, list[int]] = {}
    for path, size in new.items():
        if size < 0 and any(other.startswith(f"{path}/") for other in new):
            continue  # a folder is listed by what it holds, unless it is empty
        parts = path.split("/")
        key = "/".join(parts[:3]) + ("/" if len(parts) > 3 or size < 0 else "")
        group = groups.setdefault(key, [0, 0])
        group[0] += size >= 0
        group[1] += max(size, 0)
    listed = sorted(groups, key=lambda key: (-groups[key][1], key))[:LEFTOVERS_LISTED]
    return {"count": len(new), "files": sum(size >= 0 for size in new.values()),
            "bytes": sum(size for size in new.values() if size > 0),
            "where": [f"{key} ({groups[key][0]} files, {groups[key][1]} B)" for key in listed]}


def wait_for_bytes(work: Workspace, target: dict[str, int], tolerance: int,
                   seconds: float) -> dict:
    """Wait up to `seconds` for the bytes under both app folders to come within `tolerance` of
    `target`; the seconds it took (None if they did not) and the bytes at the end."""
    began = time.monotonic()
    while True:
        now = app_bytes(work)
        settled = all(now[name] <= target[name] + tolerance for name in target)
        if settled or time.monotonic() - began >= seconds:
            return {"settled_s": round(time.monotonic() - began, 1) if settled else None,
                    "waited_s": round(time.monotonic() - began, 1),
                    **{f"{name}_bytes": value for name, value in now.items()}}
        time.sleep(1.0)


# ----- processes -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL it if the harness dies without cleaning up.
    The child must be started from the harness's main thread (the signal follows the thread
    that started it)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop_process(process: subprocess.Popen, sig: int, seconds: float) -> float | None:
    """Send `sig`; the seconds until the process exited, or None (then it is SIGKILLed)."""
    if process.poll() is not None:
        return 0.0
    began = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=seconds)
        return time.monotonic() - began
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        return None


def read_log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    with contextlib.suppress(OSError), path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - chars))
        return log.read().decode("utf-8", "replace")
    return ""


class App:
    """`python app.py` in a subprocess with the random tiny CLIP, its TMPDIR and
    GRADIO_TEMP_DIR in the workspace, stdout and stderr to `<name>.log` there. A context
    manager: the process is killed on the way out if it still runs."""

    def __init__(self, work: Workspace, env: dict[str, str] | None = None, name: str = "app"):
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = work.root / f"{name}.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(work.tmp), "GRADIO_TEMP_DIR": str(work.gradio),
            "TEXT2HEAD_CLIP": CLIP, "TEXT2HEAD_MAX_RUNS": str(MAX_RUNS),
            "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port),
            **(env or {}),
        }
        self.env.pop("TEXT2HEAD_CLIP_CHOICES", None)
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, seconds: float = STARTUP_SECONDS) -> float:
        """Start the app; the seconds until it serves its page (HTTP 200)."""
        with self.log.open("ab") as log:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        return self.wait_until_serving(seconds)

    def wait_until_serving(self, seconds: float = STARTUP_SECONDS) -> float:
        deadline = self.started + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"app.py exited with {self.process.returncode} before "
                                   f"serving:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=5).status_code == 200:
                    return time.monotonic() - self.started
            time.sleep(0.25)
        raise HarnessError(f"app.py did not serve {self.url} within {seconds} s:\n"
                           f"{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_mb(self, field: str = "VmRSS") -> float | None:
        """Resident memory of the app process now (VmRSS) or at its highest so far (VmHWM:
        what a container's memory limit must allow), None once it has gone."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
        return None

    def peak_rss_mb(self) -> float | None:
        return self.rss_mb("VmHWM")

    def stop(self, sig: int = signal.SIGTERM, seconds: float = EXIT_SECONDS) -> dict:
        """Send `sig` and wait up to `seconds`: the seconds it took to exit (None if it did
        not, and was then killed) and its exit code (negative: killed by that signal)."""
        exit_s = _stop_process(self.process, sig, seconds)
        return {"exit_s": None if exit_s is None else round(exit_s, 2),
                "exit_code": self.process.returncode}

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return read_log_tail(self.log, chars)


# ----- clients ---------------------------------------------------------------------------------
def connect(url: str, downloads: Path) -> Client:
    """A gradio_client session (with its heartbeat, like an open page) whose downloads go to
    `downloads`, never into the app's folders."""
    downloads.mkdir(parents=True, exist_ok=True)
    return Client(url, verbose=False, download_files=str(downloads),
                  httpx_kwargs={"timeout": CALL_SECONDS})


def close(client: Client | None, downloads: Path | None = None) -> None:
    """Close a session (its heartbeat ends, so the app sees the visitor leave) and delete what
    it downloaded."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
    if downloads is not None:
        shutil.rmtree(downloads, ignore_errors=True)


@dataclasses.dataclass
class RunRecord:
    """What one client saw of one `/generate` call; times are seconds after submitting."""

    label: str
    started: float | None = None  # the run left the queue (processing, or a first output)
    first_update: float | None = None  # the first streamed output
    finished: float | None = None  # the app said the run is complete (before the downloads)
    done: float | None = None  # the client has the result (its files downloaded)
    positions: list[tuple[int, int | None]] = dataclasses.field(default_factory=list)
    glb: str | None = None  # the final GLB as downloaded by the client
    glb_ok: bool = False  # it exists and is a binary glTF
    error: str | None = None
    submitted_at: float = 0.0  # time.monotonic() of the submit

    @property
    def completed(self) -> bool:
        return self.error is None and self.glb_ok

    def max_position(self) -> int | None:
        """The furthest queue position the client was told, 1-based as the page shows it."""
        return max((rank + 1 for rank, _ in self.positions), default=None)


_STARTED = {Status.PROCESSING, Status.ITERATING, Status.PROGRESS, Status.FINISHED}


def is_glb_bytes(content: bytes) -> bool:
    return content[:4] == b"glTF"


def is_glb(path: str | None) -> bool:
    """The file exists and starts as a binary glTF does."""
    with contextlib.suppress(OSError, TypeError), open(path, "rb") as file:
        return is_glb_bytes(file.read(4))
    return False


def watch(job, record: RunRecord, seconds: float,
          until: Callable[[list], bool] | None = None) -> bool:
    """Follow a job, noting in `record` every queue position it is told, when it starts and
    its first output, until it is done (or `until(outputs)` holds); False on timeout."""
    deadline = record.submitted_at + seconds
    while time.monotonic() < deadline:
        now = time.monotonic() - record.submitted_at
        status = job.status()
        if status.code == Status.IN_QUEUE and status.rank is not None:
            told = (status.rank, status.queue_size)
            if not record.positions or record.positions[-1] != told:
                record.positions.append(told)
        outputs = job.outputs()
        if record.started is None and (status.code in _STARTED or outputs):
            record.started = now
        if record.first_update is None and outputs:
            record.first_update = now
        if record.finished is None and status.code == Status.FINISHED:
            record.finished = now
        if until is not None and until(outputs):
            return True
        if job.done():
            record.done = now
            if record.finished is None:
                record.finished = now
            return True
        time.sleep(POLL_SECONDS)
    return False


def generate(client: Client, prompt: str, seed: int, *, steps: int, views: int,
             label: str = "", seconds: float = RUN_SECONDS) -> RunRecord:
    """One `/generate` call followed to its end: a record of what the client saw."""
    record = RunRecord(label=label, submitted_at=time.monotonic())
    try:
        job = client.submit(prompt=prompt, seed=seed, steps=steps, views=views,
                            api_name="/generate")
        if not watch(job, record, seconds):
            job.cancel()
            record.error = f"no result within {seconds} s"
            return record
        final = job.result(timeout=30)
        record.glb = final[GLB_OUTPUT]
        record.glb_ok = is_glb(record.glb)
        if not record.glb_ok:
            record.error = f"the final GLB is missing or not a GLB: {record.glb}"
    except Exception as error:  # a failed run is a figure, not the end of the harness
        record.error = f"{type(error).__name__}: {error}"[:500]
    return record


def running(outputs: list) -> bool:
    """A streamed update from the optimization itself (the weights line is set)."""
    return any(isinstance(o, tuple | list) and len(o) > RUNNING_OUTPUT and o[RUNNING_OUTPUT]
               for o in outputs)


# ----- figures ---------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: with 8 values, p95 is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def context() -> dict:
    """What else shaped the figures: the machine and its load."""
    return {"cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def measured(bench: str, measure: Callable[[Workspace, dict], None], keep: bool = False) -> dict:
    """Run `measure(work, figures)` in a fresh workspace. It fills `figures` and appends every
    failed limit to figures["failures"]; an exception becomes figures["error"]. "ok" says
    whether all held; when not, the tail of each app log is added."""
    figures: dict = {"bench": bench, "clip": CLIP_LABEL, **context(), "failures": []}
    with workspace(keep) as work:
        try:
            measure(work, figures)
        except Exception as error:  # HarnessError, TimeoutError, a client's failure…
            figures["error"] = f"{type(error).__name__}: {error}"[:2000]
        figures["ok"] = not figures["failures"] and "error" not in figures
        if not figures["ok"]:
            figures["app_log_tail"] = {log.stem: read_log_tail(log)
                                       for log in sorted(work.root.glob("*.log"))}
        if keep:
            figures["workspace"] = str(work.root)
    return figures


def check(figures: dict, holds: bool, failure: str) -> None:
    if not holds:
        figures["failures"].append(failure)


def figures_line(figures: dict) -> str:
    """The one JSON line a script prints."""
    return json.dumps(figures, ensure_ascii=False)


def exit_code(figures: dict) -> int:
    """0: every limit held; 1: a limit failed; 2: the harness could not measure."""
    return 2 if "error" in figures else 0 if figures["ok"] else 1


@contextlib.contextmanager
def guarded(seconds: float) -> Iterator[None]:
    """For a script's main thread: SIGTERM and SIGHUP become SystemExit, and after `seconds`
    a TimeoutError is raised, so that the `finally` clauses kill the app and the children."""

    def leave(signum, _frame):
        raise SystemExit(128 + signum)

    def overdue(_signum, _frame):
        raise TimeoutError(f"the harness ran past its {seconds:.0f} s limit")

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, overdue)
    signal.alarm(max(1, int(seconds)))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
            yield
    finally:
        signal.alarm(0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
