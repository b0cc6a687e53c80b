"""Where the studio keeps its files: one folder per running app, inside Gradio's file cache.

Gradio serves a file that lies in its cache folder (GRADIO_TEMP_DIR) in place, and copies any
other file it is handed into that cache, where nothing ties the copy to a session. So the
sessions' folders live inside the cache: every file a page shows is the session's own, and
goes with it.

Each app holds an exclusive lock (flock) on its folder's lock file for as long as it runs. A
folder whose lock can be taken belongs to an app that is gone without cleaning up (killed,
out of memory, power cut); the next app to start removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

from gradio.utils import get_upload_folder

LOCK_NAME = ".lock"
UNLOCKED_GRACE_SECONDS = 60  # a folder younger than this may be an app still starting


class StorageUnavailable(RuntimeError):
    """The folder for the app's files cannot be made or written."""


def default_parent() -> Path:
    """`text2head/` in Gradio's cache folder (GRADIO_TEMP_DIR, else <tmp>/gradio)."""
    return Path(get_upload_folder()) / "text2head"


class Storage:
    """This app's folder: locked while it runs, removed by `close()`. Without `folder`, a new
    one is made under `default_parent()`, after removing the folders of apps that are gone."""

    def __init__(self, folder: str | Path | None = None):
        self.parent = None
        self.swept: list[Path] = []
        try:
            if folder is None:
                self.parent = default_parent()
                self.parent.mkdir(parents=True, exist_ok=True)
                self.swept = remove_abandoned(self.parent)
                folder = _new_folder(self.parent)
            self.folder = Path(folder)
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.folder / LOCK_NAME, "w")  # noqa: SIM115 (held until close)
        except OSError as error:
            where = f"GRADIO_TEMP_DIR ({os.environ['GRADIO_TEMP_DIR']})" \
                if folder is None and os.environ.get("GRADIO_TEMP_DIR") else \
                str(folder or self.parent)
            raise StorageUnavailable(
                f"cannot keep the app's files in {where}: {error.strerror or error}; set "
                "GRADIO_TEMP_DIR to a writable folder") from None
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        """Remove the folder and everything in it (and `text2head/` if no other app uses it)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.close()
        if self.parent is not None:
            with contextlib.suppress(OSError):  # not empty: another app's folder is there
                self.parent.rmdir()


def _new_folder(parent: Path) -> str:
    """A new app folder; `parent` is made again if another app removed it meanwhile."""
    try:
        return tempfile.mkdtemp(prefix="app-", dir=parent)
    except FileNotFoundError:
        parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkdtemp(prefix="app-", dir=parent)


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove the app folders under `parent` whose app is gone; returns them."""
    removed = []
    for folder in parent.iterdir():
        if folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    lock = folder / LOCK_NAME
    if not lock.exists():
        with contextlib.suppress(OSError):
            return time.time() - folder.stat().st_mtime > UNLOCKED_GRACE_SECONDS
        return False
    try:
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when closed
    except OSError:  # held: its app is running
        return False
    return True

