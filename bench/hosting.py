"""Load, soak and fault runs against `python app.py` in a subprocess (issue #10, point 5): the
harness shared by bench/load.py, bench/soak.py, bench/faults.py and tests/test_hosting_load.py.

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

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import json
import math
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _die_with_parent() -> None:
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
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
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


# ----- (a) load --------------------------------------------------------------------------------
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


# ----- (b) soak --------------------------------------------------------------------------------
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


# ----- (c) faults ------------------------------------------------------------------------------
IDLE_SECONDS = 5  # TEXT2HEAD_IDLE_SECONDS for the faults: a quiet HTTP-only caller's lifetime
LONG_STEPS = 300  # a run that is still going when the fault hits
# Empty folders torch and Gradio make at import in TMPDIR and GRADIO_TEMP_DIR: not the app's
# files, so left out of the leftovers while empty.
LIBRARY_FOLDERS = (f"tmp/torchinductor_{os.environ.get('USER') or 'root'}",
                   "gradio/vibe_edit_history")

# A visitor in a child process: connects, starts a long run, says so on stdout (one JSON line
# per event) once the optimization has streamed an update, then waits to be killed.
KILLED_CLIENT = """
import json, sys, time
from gradio_client import Client
url, downloads, prompt, seed, steps, seconds = sys.argv[1:7]
def say(**event):
    print(json.dumps(event), flush=True)
client = Client(url, verbose=False, download_files=downloads)
say(event="connected", session_hash=client.session_hash)
job = client.submit(prompt=prompt, seed=int(seed), steps=int(steps), views=1,
                    api_name="/generate")
deadline = time.monotonic() + float(seconds)
while time.monotonic() < deadline:
    outputs = job.outputs()
    if any(len(o) > 3 and o[3] for o in outputs if isinstance(o, (tuple, list))):
        say(event="streamed", outputs=len(outputs))
        break
    if job.done():
        say(event="ended", outputs=len(outputs))
        break
    time.sleep(0.05)
else:
    say(event="timeout")
time.sleep(3600)
"""


class ClientProcess:
    """A visitor in a child process (KILLED_CLIENT), its stdout read in a thread."""

    def __init__(self, url: str, folder: Path, prompt: str, seed: int, steps: int,
                 seconds: float):
        self.folder = folder
        self.events: queue.Queue[dict] = queue.Queue()
        env = {**os.environ, "TMPDIR": str(folder), "GRADIO_TEMP_DIR": str(folder / "gradio"),
               "GRADIO_ANALYTICS_ENABLED": "False"}
        self.stderr = (folder / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", KILLED_CLIENT, url, str(folder / "downloads"), prompt,
             str(seed), str(steps), str(seconds)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, preexec_fn=_die_with_parent)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.events.put(json.loads(line))

    def wait_for(self, event: str, deadline: float) -> dict:
        """The first event of that kind; HarnessError on another final event or the time."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if message.get("event") == event:
                return message
            if message.get("event") != "connected":
                raise HarnessError(f"the client process said {message}, not {event}")
        raise HarnessError(f"the client process did not say {event} in time "
                           f"(exit code {self.process.poll()}):\n"
                           f"{read_log_tail(self.folder / 'stderr.log', 2000)}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.stderr.close()


def app_leftovers(work: Workspace, before: dict[str, int] | None = None) -> dict:
    """Entries under the app's folders not in `before` (all, when None), less the libraries'
    empty folders."""
    entries = app_entries(work)
    for folder in LIBRARY_FOLDERS:
        if entries.get(folder) == -1 and not any(p.startswith(f"{folder}/") for p in entries):
            entries.pop(folder)
    return leftovers(entries, before)


def run_faults(idle_seconds: float = IDLE_SECONDS, settle_seconds: float = SETTLE_SECONDS,
               keep: bool = False, restart: bool = True) -> dict:
    """Faults against one app (private TMPDIR and GRADIO_TEMP_DIR, TEXT2HEAD_IDLE_SECONDS and
    TEXT2HEAD_UPLOAD_SECONDS = `idle_seconds`): (1) two visitors killed (SIGKILL) mid-run;
    (2) a raw-HTTP caller that exports and goes quiet; (2b) uploads and text that must be
    refused (`upload_faults`); (3) up to `settle_seconds` plus `idle_seconds` for both
    folders (every file in them, not only the app's own folder) to return to their bytes
    before (1); (4) SIGTERM mid-run: exit time and code, and nothing
    of the app left; (5) if `restart`, a restart on the same folders: seconds until the page
    and until a /random_head answer, then SIGTERM again and nothing new left. Limits: bytes
    back to the baseline within the wait of (3) and no leftover entries after (3), (4) and
    (5); exit within EXIT_SECONDS of SIGTERM; the restarted app serves."""

    def measure(work: Workspace, figures: dict) -> None:
        figures.update(idle_seconds=idle_seconds, settle_seconds=settle_seconds,
                       baseline_tolerance_bytes=BASELINE_TOLERANCE_BYTES)
        env = {"TEXT2HEAD_IDLE_SECONDS": f"{idle_seconds:g}",
               "TEXT2HEAD_UPLOAD_SECONDS": f"{idle_seconds:g}"}
        with App(work, env) as app:
            figures["startup_s"] = rounded(app.start(), 1)
            before = app_entries(work)
            baseline = app_bytes(work)
            figures["baseline"] = {f"{name}_bytes": value for name, value in baseline.items()}
            figures["killed_clients"] = kill_clients(work, app)
            figures["http_only"] = http_only_caller(work, app)
            figures["uploads"] = upload_faults(app)
            for name, held in figures["uploads"].items():
                check(figures, held is True, f"(2b) {name}: {held}")
            settle = wait_for_bytes(work, baseline, BASELINE_TOLERANCE_BYTES,
                                    settle_seconds + idle_seconds)
            settle["leftovers"] = app_leftovers(work, before)
            figures["settle"] = settle
            check(figures, settle["settled_s"] is not None,
                  f"(3) the app's folders hold {settle['tmp_bytes']} B (TMPDIR) and "
                  f"{settle['gradio_bytes']} B (Gradio cache) {settle['waited_s']} s after (1) "
                  f"and (2); {baseline['tmp']} B and {baseline['gradio']} B before")
            check(figures, not settle["leftovers"]["count"],
                  f"(3) {settle['leftovers']['count']} entries left by (1) and (2)")
            figures["sigterm"] = sigterm_mid_run(work, app)
        sigterm = figures["sigterm"]
        check(figures, sigterm["exit_s"] is not None and sigterm["exit_s"] <= EXIT_SECONDS,
              f"(4) the app did not exit within {EXIT_SECONDS} s of SIGTERM")
        check(figures, not sigterm["leftovers"]["count"],
              f"(4) {sigterm['leftovers']['count']} entries of the app left after SIGTERM")
        if not restart:
            return
        figures["restart"] = restart_app(work)
        restarted = figures["restart"]
        check(figures, restarted["page_s"] is not None and restarted["random_head_s"] is not None,
              "(5) the restarted app did not serve its page and /random_head")
        check(figures, not restarted["new_leftovers"]["count"],
              f"(5) {restarted['new_leftovers']['count']} new entries left after the restarted "
              "app's SIGTERM")

    return measured("faults", measure, keep)


def kill_clients(work: Workspace, app: App, count: int = 2) -> dict:
    """(1) `count` visitors in child processes start long runs; each is SIGKILLed once its
    run has streamed an update."""
    children = [ClientProcess(app.url, work.client_folder(f"killed-{i}"), PROMPTS[i], i,
                              LONG_STEPS, RUN_SECONDS) for i in range(count)]
    try:
        deadline = time.monotonic() + RUN_SECONDS
        began = time.monotonic()
        streamed = []
        for child in children:  # both runs go at once (MAX_RUNS); each is killed when it streams
            child.wait_for("streamed", deadline)
            child.kill()
            streamed.append(round(time.monotonic() - began, 1))
    finally:
        for child in children:
            child.kill()
    return {"clients": count, "streamed_after_s": streamed,
            **{f"{name}_bytes_at_kill": value for name, value in app_bytes(work).items()}}


def http_only_caller(work: Workspace, app: App) -> dict:
    """(2) A caller with plain HTTP and no heartbeat: POST /call/export, read the result,
    fetch its GLB, and never come back."""
    base = f"{app.url}gradio_api/call/export"
    with httpx.Client(timeout=CALL_SECONDS) as http:
        event_id = http.post(base, json={"data": []}).raise_for_status().json()["event_id"]
        kind, data = None, None
        with http.stream("GET", f"{base}/{event_id}") as answer:
            for line in answer.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    data = json.loads(line.split(":", 1)[1])
                    break
        if kind != "complete" or not isinstance(data, list):
            raise HarnessError(f"/call/export answered {kind}: {data}")
        files = [item for item in data if isinstance(item, dict) and item.get("url")]
        glb = next(item for item in files if item["url"].endswith(".glb"))
        served = is_glb_bytes(http.get(glb["url"]).content)
    return {"files": len(files), "glb_served": served,
            **{f"{name}_bytes_after": value for name, value in app_bytes(work).items()}}


def http_call(http: httpx.Client, url: str, endpoint: str, body: str,
              session: str | None = None) -> tuple[str, object]:
    """(event, data) of one call through Gradio's HTTP API with raw JSON inputs `body`."""
    extra = f', "session_hash": "{session}"' if session else ""
    base = f"{url}gradio_api/call/{endpoint}"
    event_id = http.post(base, content=f'{{"data": {body}{extra}}}', headers={
        "content-type": "application/json"}).raise_for_status().json()["event_id"]
    kind = None
    with http.stream("GET", f"{base}/{event_id}") as answer:
        for line in answer.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                return kind, json.loads(line.split(":", 1)[1])
    raise HarnessError(f"/{endpoint}: the stream ended without a result")


def upload_faults(app: App) -> dict:
    """(2b) What a hosting user may try with files and text over plain HTTP: open another
    session's params.json by its server path, a system file and a URL; open a .png; open
    their own upload twice; leave an upload unopened; send a prompt with a lone surrogate.
    Each figure is True when the app behaved (refused with a message, the other session's
    file intact and served, the upload opened once), else what happened."""
    def refused(answer: tuple[str, object], words: str) -> bool | str:
        kind, data = answer
        message = (data or {}).get("error") if isinstance(data, dict) else None
        return True if kind == "error" and message and words in message else f"{answer}"[:300]

    with httpx.Client(timeout=CALL_SECONDS) as http:
        owner, other = "bench-owner", "bench-other"
        http_call(http, app.url, "random_head", "[4]", owner)
        _, (*_, params) = http_call(http, app.url, "export", "[]", owner)
        saved = Path(params["path"]).read_bytes()

        def opening(path: str) -> tuple[str, object]:
            body = json.dumps([{"path": path, "meta": {"_type": "gradio.FileData"}}])
            return http_call(http, app.url, "open", body, other)

        def upload(name: str, content: bytes) -> str:
            answer = http.post(f"{app.url}gradio_api/upload", files={"files": (name, content)})
            return answer.raise_for_status().json()[0]

        own = "takes only a file uploaded"
        figures = {f"refuses {name}": refused(opening(path), own) for name, path in (
            ("another session's file", params["path"]), ("a system file", "/etc/passwd"),
            ("a URL", "http://127.0.0.1:9/params.json"))}
        figures["other file intact and served"] = (
            Path(params["path"]).read_bytes() == saved
            and http.get(params["url"]).status_code == 200) or "changed or not served"
        figures["refuses a .png"] = refused(opening(upload("a.png", b"\x89PNG" + bytes(60))),
                                            "must be a .json file")
        mine = upload("params.json", saved)
        figures["opens an own upload"] = opening(mine)[0] == "complete" or "refused"
        figures["refuses it again"] = refused(opening(mine), own)
        upload("never-opened.json", saved + b" ")  # expires after TEXT2HEAD_UPLOAD_SECONDS
        inputs = len(http.get(f"{app.url}gradio_api/info").json()["named_endpoints"][
            "/generate"]["parameters"])  # the prompt is checked first, the rest may be null
        body = json.dumps(["\ud800 an old man", *[None] * (inputs - 1)])
        figures["refuses a lone surrogate"] = refused(
            http_call(http, app.url, "generate", body), "lone surrogate")
    return figures


def is_glb_bytes(content: bytes) -> bool:
    return content[:4] == b"glTF"


def sigterm_mid_run(work: Workspace, app: App) -> dict:
    """(4) A fresh visitor starts a long run; SIGTERM to the app once the run streams."""
    before = app_entries(work)
    folder = work.client_folder("sigterm")
    client = connect(app.url, folder)
    try:
        record = RunRecord(label="sigterm", submitted_at=time.monotonic())
        job = client.submit(prompt=PROMPTS[2], seed=7, steps=LONG_STEPS, views=1,
                            api_name="/generate")
        if not watch(job, record, RUN_SECONDS, until=running) or job.done():
            raise HarnessError("the long run did not stream an update before the SIGTERM")
        stopped = app.stop(signal.SIGTERM, EXIT_SECONDS)
    finally:
        app.kill()  # the client's streams end with the app
        close(client, folder)
    # Everything left counts (the app has gone); "new" is what this phase's run added.
    return {"mid_run": True, "run_streamed_after_s": rounded(record.first_update, 1),
            **stopped, "leftovers": app_leftovers(work),
            "new_leftovers": app_leftovers(work, before)["count"]}


def restart_app(work: Workspace) -> dict:
    """(5) `python app.py` again on the same folders: seconds (from the start) until it serves
    its page and until /random_head answers; then SIGTERM, and what it left."""
    before = app_entries(work)
    figures = {"page_s": None, "random_head_s": None,
               "stale_at_start": app_leftovers(work)["count"]}
    with App(work, name="restart") as app:
        try:
            figures["page_s"] = rounded(app.start(), 1)
        except HarnessError as error:  # a finding, not a harness failure
            figures["error"] = str(error)[:500]
            return {**figures, "new_leftovers": app_leftovers(work, before)}
        folder = work.client_folder("restart")
        client = connect(app.url, folder)
        try:
            answer = client.submit(3, api_name="/random_head").result(timeout=CALL_SECONDS)
            figures["random_head_s"] = rounded(time.monotonic() - app.started, 1)
            figures["random_head_ok"] = "seed 3" in str(answer[1])
        except Exception as error:  # a finding too
            figures["error"] = f"/random_head: {type(error).__name__}: {error}"[:500]
        finally:
            close(client, folder)
        figures.update({f"stop_{k}": v for k, v in app.stop(signal.SIGTERM).items()})
    figures["new_leftovers"] = app_leftovers(work, before)
    figures["left_after_stop"] = app_leftovers(work)["count"]  # stale ones included
    return figures
