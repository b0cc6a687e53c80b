"""Choosing a head's discrete styles (hair, facial hair, …) by CLIP.

Styles cannot be reached by gradients, so each candidate is rendered on the fixed score views
and scored against the prompt; the best is kept, one part kind after another (hair first,
so that the beard is judged on a head that already has its hair).
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
# Candidates are seen from the front and at three-quarter: together they show a hairstyle's
# outline, length and volume and a beard's shape; the profile that the run's score views add
# repeats that at a third more CLIP cost, and CLIP is most of the choice's time (issue 16).
STYLE_VIEWS = ("front", "three_quarter")
# A style the prompt states is kept unless another scores this much higher (100 x cosine).
CLEAR_MARGIN = 1.0


@torch.no_grad()
def choose_styles(model: HeadModel, guide, head: HeadParams, prompt: str,
                  kinds: tuple[str, ...], views: tuple[str, ...],
                  resolution: int = CANDIDATE_RESOLUTION,
                  keep: set[str] | frozenset[str] = frozenset(),
                  ) -> tuple[HeadParams, dict[str, dict[str, float]]]:
    """The head with the best-scoring style of each kind, and every candidate's score
    (100 x cosine, mean over the views). For kinds in `keep` (stated in the prompt), the
    head's own style stays unless another beats it by `CLEAR_MARGIN`."""
    cameras = Cameras.named_views(list(views), device=model.template.device)
    scores: dict[str, dict[str, float]] = {}
    # Per-view scores by styles: only the styles change here, and the winner of one kind is
    # a candidate of the next, rendered and scored once.
    seen: dict[Styles, torch.Tensor] = {}
    for kind in kinds:
        candidates = model.known_styles[kind]
        heads = [head.with_styles(**{kind: style}) for style in candidates]
        new = [candidate for candidate in heads if candidate.styles not in seen]
        if new:
            per_view = view_scores(model, guide, new, prompt, cameras, resolution)
            seen.update(zip((candidate.styles for candidate in new), per_view, strict=True))
        per_style = torch.stack([seen[candidate.styles] for candidate in heads]).mean(1)
        scores[kind] = {style: float(s) for style, s in zip(candidates, per_style, strict=True)}
        best = candidates[int(per_style.argmax())]
        stated = getattr(head.styles, kind)
        if kind in keep and scores[kind][best] < scores[kind][stated] + CLEAR_MARGIN:
            best = stated
        head = replace(head, styles=replace(head.styles, **{kind: best}))
    return head, scores


@torch.no_grad()
def view_scores(model: HeadModel, guide, heads: list[HeadParams], prompt: str,
                cameras: Cameras, resolution: int) -> torch.Tensor:
    """(len(heads), views) CLIP scores (100 x cosine) of each head seen from `cameras`, in
    one CLIP batch. Without ambient occlusion: a bake per head would cost about a second
    each, and the heads are compared under the same light anyway."""
    images = torch.cat([render_head(model, head, cameras, resolution=resolution,
                                    occlusion=False) for head in heads])
    return guide.clip_score(images, prompt).view(len(heads), -1)
