"""Choosing a head's discrete styles (hair, facial hair, …) by CLIP.

Styles cannot be reached by gradients, so each candidate is rendered on fixed views and
scored against the prompt; the best is kept, one part kind after another (hair first, so that
the beard is judged on a head that already has its hair). CLIP is most of the choice's cost,
so every candidate is first seen from one view, and only the few that score best there are
also seen from the others and compared on all of them.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from text2head.heads import HeadModel, HeadParams
from text2head.heads.params import Styles
from text2head.preview import render_head
from text2head.render import Cameras

DEFAULT_CHOICES = ("hair", "facial_hair")
# Candidates are rendered this small (CLIP scales them up to its input): rendering, not CLIP,
# is most of a candidate's cost, and the choice is between whole hairstyles and beards.
CANDIDATE_RESOLUTION = 160
# Candidates are seen at three-quarter, which shows a hairstyle's outline, length and volume
# and a beard's shape, and the shortlist from the front too; the profile that the run's score
# views add repeats that at a third more CLIP cost (issue 16).
STYLE_VIEWS = ("three_quarter", "front")
# Candidates of a kind seen from every view: the best this many from the first view.
SHORTLIST = 3
# A style the prompt states is kept unless another scores this much higher (100 x cosine).
CLEAR_MARGIN = 1.0

Scores = dict[str, dict[str, dict[str, float]]]  # kind -> style -> view -> 100 x cosine


@torch.no_grad()
def choose_styles(model: HeadModel, guide, head: HeadParams, prompt: str,
                  kinds: tuple[str, ...], views: tuple[str, ...],
                  resolution: int = CANDIDATE_RESOLUTION,
                  keep: set[str] | frozenset[str] = frozenset(),
                  shortlist: int = SHORTLIST) -> tuple[HeadParams, Scores]:
    """The head with the best style of each kind, and every candidate's score per view it
    was seen from (100 x cosine).

    Every candidate is scored from the first view; the `shortlist` best there (and, for
    kinds in `keep`, the head's own style, stated in the prompt) are scored from the other
    views too. Of the candidates seen from every view, the best mean wins; for kinds in
    `keep`, the head's own style stays unless another beats it by `CLEAR_MARGIN`."""
    scorer = _Scorer(model, guide, prompt, views, resolution)
    scores: Scores = {}
    for kind in kinds:
        candidates = model.known_styles[kind]
        heads = {style: head.with_styles(**{kind: style}) for style in candidates}
        first = scorer.scores(list(heads.values()), views[:1])[:, 0]
        stated = getattr(head.styles, kind)
        ranked = [candidates[i] for i in first.argsort(descending=True, stable=True).tolist()]
        # Heads already seen from every view (the last kind's winner) compete too.
        complete = [style for style in candidates
                    if len(scorer.seen_views(heads[style])) == len(views)]
        finalists = list(dict.fromkeys(ranked[:shortlist] + ([stated] if kind in keep else [])
                                       + complete))
        means = scorer.scores([heads[style] for style in finalists], views).mean(1)
        best = finalists[int(means.argmax())]
        if kind in keep and float(means.max()) < float(means[finalists.index(stated)]) \
                + CLEAR_MARGIN:
            best = stated
        scores[kind] = {style: scorer.seen_views(heads[style]) for style in candidates}
        head = replace(head, styles=replace(head.styles, **{kind: best}))
    return head, scores


class _Scorer:
    """Per-view CLIP scores of heads that differ only in their styles. A head is rendered from
    every view at once (a render's cost is mostly per head, not per view), but each (styles,
    view) is shown to CLIP, the larger cost, only when its score is asked for, and once: the
    winner of one kind is a candidate of the next."""

    def __init__(self, model: HeadModel, guide, prompt: str, views: tuple[str, ...],
                 resolution: int):
        self.model, self.guide, self.prompt = model, guide, prompt
        self.views, self.resolution = views, resolution
        self.cameras = Cameras.named_views(list(views), device=model.template.device)
        self._images: dict[Styles, torch.Tensor] = {}  # (views, 3, H, W) per head
        self._seen: dict[tuple[Styles, str], float] = {}

    def scores(self, heads: list[HeadParams], views: tuple[str, ...]) -> torch.Tensor:
        """(len(heads), len(views)) scores; what is not yet scored goes to CLIP in one batch."""
        missing = list(dict.fromkeys((head.styles, view) for head in heads for view in views
                                     if (head.styles, view) not in self._seen))
        for head in heads:
            if head.styles not in self._images:
                self._images[head.styles] = candidate_views(self.model, head, self.cameras,
                                                            self.resolution)
        if missing:
            images = torch.stack([self._images[styles][self.views.index(view)]
                                  for styles, view in missing])
            self._seen.update(zip(missing, self.guide.clip_score(images, self.prompt).tolist(),
                                  strict=True))
        return torch.tensor([[self._seen[head.styles, view] for view in views]
                             for head in heads])

    def seen_views(self, head: HeadParams) -> dict[str, float]:
        """{view: score} of the views `head` was scored from."""
        return {view: self._seen[head.styles, view] for view in self.views
                if (head.styles, view) in self._seen}


@torch.no_grad()
def view_scores(model: HeadModel, guide, heads: list[HeadParams], prompt: str,
                cameras: Cameras, resolution: int) -> torch.Tensor:
    """(len(heads), views) CLIP scores (100 x cosine) of each head seen from `cameras`, in
    one CLIP batch."""
    images = torch.cat([candidate_views(model, head, cameras, resolution) for head in heads])
    return guide.clip_score(images, prompt).view(len(heads), -1)


def candidate_views(model: HeadModel, head: HeadParams, cameras: Cameras,
                    resolution: int) -> torch.Tensor:
    """(views, 3, H, W) renders of a candidate head to compare with others. Without ambient
    occlusion: a bake per head would cost about a second each, and the heads are compared
    under the same light anyway."""
    return render_head(model, head, cameras, resolution=resolution, occlusion=False)
