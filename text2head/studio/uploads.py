"""The files callers uploaded to this app: each may be taken by one event, then it is deleted.

Gradio stores an upload as <cache>/<sha256 of a secret seed and the bytes>/<name> and returns
that path to the uploader, who then names it in an event. Gradio itself accepts any path in
its cache there, which includes every session's own files. So the studio records the paths
its upload route returned (`hosting.UploadRecorder`) and an event may only take one of those,
once per upload; an upload is deleted when read, when its event is refused, when nobody took
it within `max_age` seconds, and at shutdown.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path


def _key(path: str | Path) -> str:
    return os.path.realpath(path)


class Uploads:
    """Uploads not yet taken by an event (a path uploaded twice, by two callers sending the
    same bytes, counts twice), and those taken but not yet discarded."""

    def __init__(self, max_age: float):
        self.max_age = max_age
        self._pending: dict[str, list[float]] = {}  # path -> when each upload of it came
        self._taken: dict[str, int] = {}  # path -> events holding it
        self._lock = threading.Lock()

    def record(self, paths: list[str], now: float | None = None) -> None:
        """The upload route returned these paths (at `now`, time.monotonic())."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for path in paths:
                self._pending.setdefault(_key(path), []).append(now)

    def take(self, path: str) -> bool:
        """Claim one upload of `path` for an event; False if no upload of it is pending (a
        path the caller did not upload, or already taken)."""
        key = _key(path)
        with self._lock:
            times = self._pending.get(key)
            if not times:
                return False
            times.pop(0)
            if not times:
                del self._pending[key]
            self._taken[key] = self._taken.get(key, 0) + 1
            return True

    def discard(self, path: str) -> None:
        """The event that took `path` is done with it: delete the file (and its folder, if
        empty) unless another upload of the same bytes is still pending or in use."""
        key = _key(path)
        with self._lock:
            left = self._taken.get(key, 0) - 1
            if left > 0:
                self._taken[key] = left
            else:
                self._taken.pop(key, None)
            if left > 0 or key in self._pending:
                return
        _delete(key)

    def expire(self, now: float | None = None) -> list[str]:
        """Delete the uploads nobody took within `max_age` seconds; returns their paths."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for times in self._pending.values():
                times[:] = [when for when in times if now - when <= self.max_age]
            gone = [key for key, times in self._pending.items() if not times]
            for key in gone:
                del self._pending[key]
            gone = [key for key in gone if key not in self._taken]
        for key in gone:
            _delete(key)
        return gone

    def clear(self) -> None:
        """Delete every upload still here (at shutdown)."""
        with self._lock:
            keys = set(self._pending) | set(self._taken)
            self._pending.clear()
            self._taken.clear()
        for key in keys:
            _delete(key)

    def __len__(self) -> int:
        with self._lock:
            return sum(map(len, self._pending.values())) + sum(self._taken.values())


def _delete(path: str) -> None:
    file = Path(path)
    file.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty, or already gone
        file.parent.rmdir()
