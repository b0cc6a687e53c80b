"""What the app shares between sessions, and how sessions end.

One read-only HeadModel and the loaded CLIP guides are shared by every session; heads, runs
and files are per session. A session ends when its page goes (Gradio's unload event: tab
closed, client closed or killed), when it has been idle for `limits.idle_seconds` with no open
connection (an HTTP-only caller never says goodbye), or when the app stops.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import torch

from text2head import api
from text2head.candidates import Candidate
from text2head.guidance import CLIPGuide, CLIPWeightsUnavailable, parse_clip_spec
from text2head.heads import HeadModel, HeadParams
from text2head.studio.controls import learning_rates, run_weights
from text2head.studio.limits import Limits
from text2head.studio.memory import release_freed_memory
from text2head.studio.session import Session, SessionEnded
from text2head.studio.storage import Storage
from text2head.studio.uploads import Uploads
from text2head.studio.worker import RunWorker

REAP_EVERY_SECONDS = 30.0  # the most an expired session waits to be removed
CLOSE_WAIT_SECONDS = 20.0  # how long closing waits for each run to end its step


class ServerBusy(RuntimeError):
    """As many sessions are live as the app allows (TEXT2HEAD_MAX_SESSIONS)."""


class Studio:
    """The shared HeadModel and CLIP guides, and the sessions keyed by Gradio's session hash,
    each with a folder under `root` (by default a new folder in Gradio's file cache), within
    `limits` (by default those set in the environment)."""

    def __init__(self, model: HeadModel | None = None, root: str | Path | None = None,
                 device: str | None = None, limits: Limits | None = None):
        self.limits = limits or Limits.from_env()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = (model or HeadModel()).to(self.device)
        self.storage = Storage(root)
        self.root = self.storage.folder
        self.uploads = Uploads(self.limits.upload_seconds)
        self._failed_guides: dict[str, tuple[float, str]] = {}  # spec -> (when, why)
        self._sessions: dict[str, Session] = {}
        self._connections: dict[str, int] = {}  # open heartbeat streams per session
        self._busy: dict[str, int] = {}  # handlers running per session
        self._guides: dict[str, CLIPGuide] = {}
        self._end_listeners: list[Callable[[str], None]] = []
        self._lock = threading.Lock()
        self._guide_lock = threading.Lock()
        self._closed = threading.Event()
        reap_every = min(REAP_EVERY_SECONDS, max(self.limits.idle_seconds / 4, 0.25))
        threading.Thread(target=self._reap, args=(reap_every,), name="text2head-reaper",
                         daemon=True).start()

    # ----- sessions -----------------------------------------------------------------------
    def session(self, key: str) -> Session:
        """The session for a key, created on first use (in a folder named at random);
        ServerBusy when `limits.max_sessions` are live and none of them has expired."""
        for attempt in range(2):
            with self._lock:
                if self._closed.is_set():
                    raise SessionEnded("the app is shutting down")
                session = self._sessions.get(key)
                if session is None and len(self._sessions) < self.limits.max_sessions:
                    folder = self.root / secrets.token_urlsafe(18)
                    session = self._sessions[key] = Session(self.model, folder,
                                                            self.limits.session_bytes)
                if session is not None:
                    session.last_used = time.monotonic()
                    return session
            if attempt == 0:
                self.expire()  # make room from idle sessions before turning anyone away
        raise ServerBusy(f"The server is busy: {self.limits.max_sessions} sessions are open "
                         "(TEXT2HEAD_MAX_SESSIONS). Please try again in a few minutes.")

    @contextlib.contextmanager
    def using(self, key: str) -> Iterator[Session]:
        """The session for the length of one event: it cannot expire meanwhile, and its idle
        time counts from the event's end. When its last event ends (a run with its files, an
        export; not a slider moved during its own run), the heap it freed goes back to the
        OS, so the app's memory stays flat from run to run."""
        session = self.session(key)
        with self._lock:
            self._busy[key] = self._busy.get(key, 0) + 1
        try:
            yield session
        finally:
            with self._lock:
                self._busy[key] -= 1
                idle = not self._busy[key]
                if idle:
                    del self._busy[key]
                session.last_used = time.monotonic()
            if idle:
                release_freed_memory()

    def connect(self, key: str) -> None:
        """A page or client opened its heartbeat stream: the session stays while it is open."""
        with self._lock:
            self._connections[key] = self._connections.get(key, 0) + 1

    def disconnect(self, key: str) -> None:
        with self._lock:
            left = self._connections.get(key, 1) - 1
            if left > 0:
                self._connections[key] = left
            else:
                self._connections.pop(key, None)
            if key in self._sessions:
                self._sessions[key].last_used = time.monotonic()

    def expire(self, now: float | None = None) -> list[str]:
        """End the sessions idle for longer than `limits.idle_seconds` with no run, no event in
        progress and no open connection; returns their keys."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [key for key, session in self._sessions.items()
                    if not session.running and key not in self._busy
                    and key not in self._connections
                    and now - session.last_used > self.limits.idle_seconds]
            ended = [self._sessions.pop(key) for key in idle]
        for key, session in zip(idle, ended, strict=True):
            self._ended(key, session)
        return idle

    def _reap(self, every: float) -> None:
        while not self._closed.wait(every):
            self.expire()
            self.uploads.expire()

    def end_session(self, key: str) -> None:
        """The visitor left: stop their run and delete their files."""
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            self._ended(key, session)

    def on_session_end(self, listener: Callable[[str], None]) -> None:
        """Call `listener(key)` after each session ends (the app drops Gradio's own state
        for it, which Gradio otherwise keeps for thousands of sessions)."""
        self._end_listeners.append(listener)

    def _ended(self, key: str, session: Session) -> None:
        session.close()
        for listener in self._end_listeners:
            listener(key)
        release_freed_memory()

    @property
    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def close(self) -> None:
        """Stop every run and delete every file (at shutdown)."""
        self._closed.set()
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        for session in sessions:  # a run ends within a step; torch must not die mid-step
            if session.worker is not None:
                session.worker.join(CLOSE_WAIT_SECONDS)
        self.uploads.clear()
        self.storage.close()

    # ----- CLIP and runs ------------------------------------------------------------------
    def guide(self, spec: str) -> CLIPGuide:
        """The CLIP guide for a spec, loaded once and shared (CLIP is only read). A download
        that failed (no network: the hub's retries take a minute or more) is remembered for
        `limits.clip_retry_seconds`, and every Generate meanwhile is answered at once."""
        with self._guide_lock:
            if spec in self._guides:
                return self._guides[spec]
            failed = self._failed_guides.get(spec)
            if failed is not None and time.monotonic() - failed[0] < \
                    self.limits.clip_retry_seconds:
                raise CLIPWeightsUnavailable(failed[1])
            try:
                self._guides[spec] = api.load_guide(spec, self.device)
            except CLIPWeightsUnavailable as error:
                if parse_clip_spec(spec).kind != "pretrained":  # a local file: quick to retry
                    raise
                why = (f"{error}\n(The app tries the download again "
                       f"{self.limits.clip_retry_seconds:g} s after it failed; "
                       "TEXT2HEAD_CLIP_RETRY_SECONDS sets this.)")
                self._failed_guides[spec] = (time.monotonic(), why)
                raise CLIPWeightsUnavailable(why) from error
            return self._guides[spec]

    def preload(self, spec: str) -> None:
        """Load a guide in the background so that the first Generate starts sooner; a failure
        is left for Generate to report."""

        def load() -> None:
            with contextlib.suppress(Exception):
                self.guide(spec)

        threading.Thread(target=load, name="text2head-preload", daemon=True).start()

    def start_run(self, key: str, prompt: str, *, clip: str, editing: bool,
                  weights: Mapping[str, float], learning_rate_scale: float,
                  start: HeadParams | None = None, candidates: Sequence[Candidate] = (),
                  **options) -> RunWorker:
        """Check the inputs, load CLIP and start a session's run; continuing (`editing`)
        starts from the head on show and keeps close to it. A run from a grid starts from
        its candidate's head (`start`) and lists the grid's `candidates` in config.json.
        `options` are RunConfig fields."""
        with self.using(key) as session:  # preparing takes a while: it must not expire
            run = api.prepare(
                prompt, clip=self.guide(clip), device=self.device, model=self.model,
                start=session.head if editing else start,
                weights=run_weights(weights, editing),
                learning_rates=learning_rates(learning_rate_scale), **options,
            )
            return session.start(run, editing, candidates)
