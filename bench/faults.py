"""Faults against one `python app.py`: visitors killed mid-run, a quiet HTTP-only caller,
SIGTERM mid-run and a restart; prints one JSON line, exits 1 if a limit fails (2: could not
measure).

Run: python bench/faults.py [--idle-s 5] [--settle-s 60] [--keep]
One app subprocess with the random tiny CLIP (a test fixture, labelled in the output), private
TMPDIR and GRADIO_TEMP_DIR, and TEXT2HEAD_IDLE_SECONDS=--idle-s (sessions of HTTP-only callers
expire after that idle time). Phases: (1) two gradio_client processes start long runs and are
SIGKILLed once their runs stream; (2) a raw-HTTP caller (POST /gradio_api/call/export, GET the
result and the GLB, no heartbeat) goes quiet; (3) up to --settle-s plus --idle-s for the bytes
under both folders to return to their value before (1); (4) a fresh client starts a long run
and the app gets SIGTERM mid-run: exit time and code, and what is left under both folders;
(5) `python app.py` again on the same folders: seconds until the page (HTTP 200) and until
/random_head answers, then SIGTERM. Limits: back to the baseline in (3), no leftover entries
after (3), (4) and (5) (paths listed), exit within 30 s of SIGTERM, the restart serves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import hosting
import httpx
from hosting import (
    BASELINE_TOLERANCE_BYTES,
    CALL_SECONDS,
    EXIT_SECONDS,
    PROMPTS,
    RUN_SECONDS,
    SETTLE_SECONDS,
    App,
    HarnessError,
    RunRecord,
    Workspace,
    app_bytes,
    app_entries,
    check,
    close,
    connect,
    die_with_parent,
    is_glb_bytes,
    leftovers,
    measured,
    read_log_tail,
    rounded,
    running,
    wait_for_bytes,
    watch,
)

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
            text=True, preexec_fn=die_with_parent)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=IDLE_SECONDS,
                        help="TEXT2HEAD_IDLE_SECONDS for the app")
    parser.add_argument("--settle-s", type=float, default=hosting.SETTLE_SECONDS)
    parser.add_argument("--keep", action="store_true", help="keep the private folder")
    parser.add_argument("--limit-s", type=float, default=1800, help="the whole run's limit")
    args = parser.parse_args()
    with hosting.guarded(args.limit_s):
        figures = run_faults(args.idle_s, args.settle_s, keep=args.keep)
    print(hosting.figures_line(figures))
    return hosting.exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
