"""Several instant heads for one prompt, to choose from: seeds s, s+1, ... (issue 17).

Every generator shows a grid; here each candidate is the instant head of one seed (the prompt
fixes what it states, the seed the rest, see `text2head.variety`), so a candidate is
reproduced by its seed alone. With a CLIP guide the candidates are ranked by their mean CLIP
score on the fixed score views, and the best one is the natural start of a refinement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from text2head.heads import HeadModel, HeadParams
from text2head.instant import instant_head
from text2head.render import Cameras
from text2head.seeds import check_seed
from text2head.styles import view_scores
from text2head.understand import Understanding

DEFAULT_COUNT = 4
MAX_COUNT = 16
NEARBY = 0.3  # "more like this": how far a new seed moves the chosen head's values


@dataclass(frozen=True)
class Candidate:
    seed: int
    head: HeadParams
    clip_score: float | None = None  # mean over the score views; None without CLIP

    def to_dict(self) -> dict[str, object]:
        return {"seed": self.seed, "clip_score": self.clip_score,
                "styles": self.head.styles.to_dict()}


def candidates(model: HeadModel, understanding: Understanding, seed: int,
               count: int = DEFAULT_COUNT, variety: float = 1.0) -> list[Candidate]:
    """The instant heads of seeds `seed` ... `seed + count - 1`."""
    check_count(count)
    check_seed(seed, count)
    return [Candidate(s, instant_head(model, understanding, seed=s, variety=variety))
            for s in range(seed, seed + count)]


def more_like(model: HeadModel, understanding: Understanding, chosen: HeadParams, seed: int,
              count: int = DEFAULT_COUNT) -> list[Candidate]:
    """Heads near `chosen`: its styles and everything the prompt states stay, and every other
    value moves a little (`NEARBY`) toward the person of seeds `seed`, `seed + 1`, ..."""
    check_count(count)
    check_seed(seed, count)
    return [Candidate(s, instant_head(model, understanding, chosen, seed=s, variety=NEARBY))
            for s in range(seed, seed + count)]


def rank(model: HeadModel, guide, found: list[Candidate], prompt: str, views: tuple[str, ...],
         resolution: int = 224) -> list[Candidate]:
    """`found` with their CLIP scores (mean over `views`, scored as the style choice scores
    its candidates), best first (ties keep seed order)."""
    cameras = Cameras.named_views(list(views), device=model.template.device)
    scores = view_scores(model, guide, [c.head for c in found], prompt, cameras, resolution)
    scored = [replace(candidate, clip_score=float(score))
              for candidate, score in zip(found, scores.mean(1), strict=True)]
    return sorted(scored, key=lambda c: -c.clip_score)


def check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"candidates must be a whole number from 1 to {MAX_COUNT}, got {count!r}")
