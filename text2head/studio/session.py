"""One visitor of the studio: the head on show, at most one run, and a private folder.

Every file a session writes goes through `Session.writing`, which refuses to start once the
session has ended and removes what was being written if it ends meanwhile: a run abandoned
by its page (tab closed, client killed, session expired, app stopping) finishes its step in
the worker thread and then writes nothing.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from text2head import api
from text2head.animation.request import AnimationRequest
from text2head.bundle import write_head, write_instant
from text2head.candidates import Candidate
from text2head.edits import apply_edits
from text2head.export import export_glb
from text2head.heads import HeadModel, HeadParams
from text2head.printing import Progress, print_head
from text2head.settings import DEFAULT_LEARNING_RATES, DEFAULT_WEIGHTS, check_values
from text2head.studio.controls import learning_rates
from text2head.studio.grid import CandidateGrid, thumbnail
from text2head.studio.worker import RunWorker
from text2head.understand import Understanding

KEEP_PER_KIND = 3  # folders kept per kind ("run", "export", "preview", ...)
VIEWER_TEXTURE = 512  # texture size of the GLBs shown in the 3D viewer


class SessionEnded(RuntimeError):
    """The session ended (page closed, client gone, idle too long, app stopping): nothing
    more is written for it."""


class SessionFull(RuntimeError):
    """A set of files larger than a session's whole disk allowance."""


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (files removed meanwhile count as nothing)."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                total += path.stat().st_size
    return total


@dataclass
class WrittenSet:
    """One set of files a session wrote: its kind, folder and size once complete."""

    kind: str
    folder: Path
    bytes: int = 0  # counted when the set is complete (0 while it is being written)


@dataclass(frozen=True)
class Downloads:
    """The four downloads of a head."""

    glb: Path
    obj_zip: Path
    ply: Path
    params: Path


def downloads_from(files: Mapping[str, Path]) -> Downloads:
    """Downloads from the files `write_head`/`write_run` wrote; the OBJ, MTL and every part's
    PNG are zipped, because an OBJ without its materials and textures shows no colour."""
    obj = files["obj"]
    archive = obj.with_name(f"{obj.stem}_obj.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for kind, path in files.items():
            if kind in ("obj", "mtl") or kind.startswith("png"):
                bundle.write(path, path.name)
    return Downloads(glb=files["glb"], obj_zip=archive, ply=files["ply"], params=files["params"])


class Session:
    """One visitor: a private folder, the head on show (`head`), the head edits start from
    (`base`), the candidates on show (`grid`), and at most one run."""

    def __init__(self, model: HeadModel, folder: Path, max_bytes: int):
        self.model = model
        self.folder = folder
        self.max_bytes = max_bytes  # disk the session's files may take (TEXT2HEAD_SESSION_MB)
        self._written: list[WrittenSet] = []  # oldest first
        self.base: HeadParams = model.neutral()
        self.head: HeadParams = self.base
        self.worker: RunWorker | None = None
        self.grid: CandidateGrid | None = None
        self.last_used = time.monotonic()
        self.closed = False
        self._lock = threading.Lock()

    # ----- runs ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.done

    def start(self, run, editing: bool, candidates: Sequence[Candidate] = ()) -> RunWorker:
        """Start a run (the previous one of this session stops, replaced: its page shows the
        new run instead of its result)."""
        if self.closed:
            raise SessionEnded("this session has ended")
        self.stop(replaced=True)
        self.worker = RunWorker(run, editing, candidates)
        return self.worker

    def stop(self, replaced: bool = False) -> bool:
        """Stop the run, if one is going; True if there was one."""
        if not self.running:
            return False
        self.worker.stop(replaced)
        return True

    def set_weight(self, name: str, value: float) -> None:
        """A loss-weight slider moved: the running run uses it from its next step. The value
        is checked even without a run, so a bad one is never accepted silently."""
        check_values({name: value}, DEFAULT_WEIGHTS, "loss weight")
        worker = self.worker
        if worker is None or worker.done:
            return
        if name == "identity_preservation" and not worker.editing:
            return
        worker.settings.update(weights={name: float(value)})

    def set_learning_rate_scale(self, scale: float) -> None:
        rates = learning_rates(scale)
        check_values(rates, DEFAULT_LEARNING_RATES, "learning rate")  # even without a run
        if self.running:
            self.worker.settings.update(learning_rates=rates)

    def finish_run(self, worker: RunWorker) -> api.Result:
        """The run's best head with every file written (waits for the run to end)."""
        with self.writing("run") as folder:
            return worker.finish(folder)

    # ----- candidates -----------------------------------------------------------------------
    def show_candidates(self, prompt: str, understood: Understanding,
                        found: Sequence[Candidate], chosen: Candidate | None = None
                        ) -> CandidateGrid:
        """Put `found` in the grid, with a thumbnail each (one folder for all); `chosen`
        (default: the first) is what "More like this" starts from until one is clicked."""
        with self.writing("candidates") as folder:
            pictures = []
            for candidate in found:
                pictures.append(folder / f"seed-{candidate.seed}.png")
                thumbnail(self.model, candidate.head).save(pictures[-1])
        self.grid = CandidateGrid(prompt, understood, list(found), pictures,
                                  chosen or found[0])
        return self.grid

    def shown_grid(self) -> CandidateGrid:
        """The grid on show; a clear error before the first Generate."""
        if self.grid is None:
            raise ValueError("There are no candidates yet: press Generate first")
        return self.grid

    def pick(self, index: int) -> tuple[CandidateGrid, Candidate]:
        """The grid and its candidate at `index` (a place the boundary checked), now the
        chosen one: from now on the grid's best is not refined automatically."""
        grid = self.shown_grid()
        with grid.lock:
            grid.picked = True
            grid.chosen = grid.shown[index]
            return grid, grid.chosen

    def refine_best(self, grid: CandidateGrid,
                    start: Callable[[Candidate], RunWorker]) -> RunWorker | None:
        """`start(best)` for the grid's best candidate, unless one was clicked or another grid
        came meanwhile (the person's choice wins); None then."""
        with grid.lock:
            if grid.picked or self.grid is not grid:
                return None
            grid.chosen = grid.best
            return start(grid.chosen)

    # ----- the head on show ---------------------------------------------------------------
    def adopt(self, head: HeadParams) -> None:
        """Show `head` and make it the starting point of edits."""
        self.base = self.head = head.detach()

    def edit(self, values: Mapping[str, float], styles: Mapping[str, str] | None = None) -> None:
        """Apply the edit sliders (by label) and part styles (by kind) to the base head; the
        head on show changes only if the whole edit is valid."""
        self.head = apply_edits(self.model, self.base, values, styles)

    def open(self, path: str | Path) -> HeadParams:
        """Show a saved head (a params.json); on any error the head on show is unchanged."""
        self.adopt(self.model.read_params(path))
        return self.head

    # ----- files --------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, kind: str) -> Iterator[Path]:
        """A fresh folder for one set of files, named at random (one file's address tells
        nothing of another's); only the newest few of each kind are kept, and the oldest
        sets go first when the session holds more than its disk allowance. A set whose
        writing fails is removed. Raises SessionEnded (and removes what was written) if the
        session has ended or ends before the files are complete."""
        with self._lock:
            if self.closed:
                raise SessionEnded("this session has ended")
            folder = self.folder / f"{kind}-{secrets.token_urlsafe(12)}"
            folder.mkdir(parents=True)
            self._written.append(WrittenSet(kind, folder))
            old = [s.folder for s in self._written if s.kind == kind][:-KEEP_PER_KIND]
        self._remove(old)
        try:
            yield folder
        except BaseException as error:
            self._remove([folder])
            if self.closed:
                raise SessionEnded("this session ended while its files were written") \
                    from error
            raise
        with self._lock:
            ended = self.closed
        if ended:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise SessionEnded("this session ended while its files were written")
        self._keep_within_allowance(folder, folder_bytes(folder))

    def _remove(self, folders: list[Path]) -> None:
        with self._lock:
            self._written = [s for s in self._written if s.folder not in folders]
        for path in folders:
            shutil.rmtree(path, ignore_errors=True)

    def _keep_within_allowance(self, newest: Path, size: int) -> None:
        """Record the newest set's size, then remove the oldest sets until the session holds
        at most `max_bytes`; SessionFull if the newest set alone is larger."""
        if size > self.max_bytes:
            self._remove([newest])
            raise SessionFull(
                f"these files take {size / 1e6:.0f} MB; a session may keep at most "
                f"{self.max_bytes / 1e6:.0f} MB (TEXT2HEAD_SESSION_MB)")
        with self._lock:
            for written in self._written:
                if written.folder == newest:
                    written.bytes = size
            used = sum(written.bytes for written in self._written)
            drop = []
            for written in self._written:  # oldest first
                if used <= self.max_bytes:
                    break
                if written.folder != newest:
                    drop.append(written.folder)
                    used -= written.bytes
        self._remove(drop)

    def picture(self, image: Image.Image) -> Path:
        """A PNG of an image for the page (served from the session's folder)."""
        with self.writing("preview") as folder:
            path = folder / "preview.png"
            image.save(path)
            return path

    def export(self) -> Downloads:
        """Every download of the head on show."""
        with self.writing("export") as folder:
            return downloads_from(write_head(self.model, self.head, folder, preview=False))

    def export_instant(self, understood: Understanding, **seeding) -> Downloads:
        """Every download of the instant head (no CLIP), labelled as such in config.json
        with its `seeding` (seed, candidates)."""
        with self.writing("instant") as folder:
            return downloads_from(write_instant(self.model, self.head, understood, folder,
                                                api.INSTANT_LABEL, **seeding))

    def viewer_glb(self, head: HeadParams) -> Path:
        """A light GLB (small textures) of a head and its parts for the 3D viewer."""
        meshes = self.model.to_meshes(head, texture_size=VIEWER_TEXTURE)
        with self.writing("viewer") as folder:
            return export_glb(meshes, folder / "head.glb")

    def animate(self, animation: AnimationRequest) -> dict[str, Path]:
        """The head on show in a GLB animated by `animation` (shown in the 3D viewer, which
        plays its first clip, and downloaded), with the clip's preview and, when it talks,
        its visemes (see `api.animate`)."""
        with self.writing("animation") as folder:
            return api.animate(self.head, animation, folder, model=self.model)

    def print_stl(self, progress: Progress | None = None) -> Path:
        """A watertight STL bust of the head on show for 3D printing (issue #11); made on
        demand because it takes seconds, with `progress(fraction, text)` as it goes."""
        with self.writing("print") as folder:
            return print_head(self.model, self.head, folder, formats=("stl",),
                              progress=progress)["stl"]

    def close(self) -> None:
        """End the session: stop its run and delete its files (also those being written)."""
        with self._lock:
            self.closed = True
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
