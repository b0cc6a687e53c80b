"""The studio's grid of candidates (issue 17): the instant heads of seeds s…s+3, shown as
small thumbnails within a second of the click, then captioned with their CLIP scores.

The grid keeps seed order when the scores come (the best is marked, not moved), so that a
click always names the candidate the person saw in that place.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from PIL import Image

from text2head.candidates import Candidate
from text2head.heads import HeadModel, HeadParams
from text2head.preview import contact_sheet, render_head
from text2head.render import Cameras
from text2head.understand import Understanding

THUMBNAIL_SIZE = 192  # pixels a side: four fit one row beside the controls
THUMBNAIL_VIEW = "three_quarter"  # shows face, profile and hair in one view
THUMBNAIL_TEXTURE = 128  # texels a side of the skin: a 192 px view shows no more


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread (in the calling thread only) while the block runs, for work made
    of many small ops. On the shared 2-core machine with other work running, four instant
    heads took 20–450 ms on two OpenMP threads (which wait on each other) and 10 ms on one;
    their four thumbnails 1.5–3 s and 0.3–0.6 s."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thumbnail(model: HeadModel, head: HeadParams) -> Image.Image:
    """One small view of a head, without ambient occlusion (its bake costs more than the
    whole thumbnail) and without autograd."""
    head = head.select(0)
    with torch.no_grad():
        cameras = Cameras.named_views([THUMBNAIL_VIEW], device=model.template.device)
        decoded = model.decode(head, texture_size=THUMBNAIL_TEXTURE)
        return contact_sheet(render_head(model, head, cameras, decoded=decoded,
                                         resolution=THUMBNAIL_SIZE, occlusion=False))


@dataclass
class CandidateGrid:
    """The candidates on show, in seed order, with their thumbnails; `chosen` is the one
    "More like this" starts from (the one clicked, else the one refined automatically, else
    the first). `lock` orders a click against the automatic start of the best: once a
    candidate is `picked`, the best is no longer refined automatically."""

    prompt: str
    understood: Understanding
    shown: list[Candidate]
    pictures: list[Path]
    chosen: Candidate
    picked: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def next_seed(self) -> int:
        """The first seed after every candidate's: where "More like this" goes on."""
        return max(candidate.seed for candidate in self.shown) + 1

    @property
    def best(self) -> Candidate:
        """The highest CLIP score (the first candidate before ranking)."""
        if self.shown[0].clip_score is None:
            return self.shown[0]
        return max(self.shown, key=lambda candidate: candidate.clip_score)

    def scored(self, ranked: Sequence[Candidate]) -> None:
        """Take the CLIP scores of `ranked` (any order); the grid keeps its order."""
        scores = {candidate.seed: candidate.clip_score for candidate in ranked}
        with self.lock:
            self.shown = [replace(c, clip_score=scores[c.seed]) for c in self.shown]

    def gallery(self) -> list[tuple[str, str]]:
        """The Gallery's value: each thumbnail captioned "seed N", with its CLIP score and
        the best marked once ranked."""
        best = None if self.shown[0].clip_score is None else self.best
        return [(str(picture), caption(candidate, candidate is best))
                for candidate, picture in zip(self.shown, self.pictures, strict=True)]


def caption(candidate: Candidate, best: bool = False) -> str:
    parts = [f"seed {candidate.seed}"]
    if candidate.clip_score is not None:
        parts.append(f"CLIP {candidate.clip_score:.1f}")
    if best:
        parts.append("★ best")
    return " · ".join(parts)
