"""What the studio's run controls mean: the loss-weight sliders, the learning-rate slider,
the CLIP choices, and the pictures shown beside them (preview sheet, loss chart)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import plotly.graph_objects as go
from PIL import Image

from text2head import api
from text2head.guidance import default_clip_spec
from text2head.guidance.loading import RANDOM_LABEL, parse_clip_spec
from text2head.heads import HeadModel, HeadParams
from text2head.optimize import SCORE_VIEWS
from text2head.preview import contact_sheet, preview_views
from text2head.settings import DEFAULT_LEARNING_RATES, DEFAULT_WEIGHTS


@dataclass(frozen=True)
class WeightControl:
    """A loss-weight slider: the weight (a `DEFAULT_WEIGHTS` name) it sets, and its range."""

    name: str
    label: str
    maximum: float

    @property
    def default(self) -> float:
        return api.EDIT_WEIGHTS.get(self.name, DEFAULT_WEIGHTS[self.name])


WEIGHT_CONTROLS = (
    WeightControl("clip", "CLIP (match the prompt)", 3.0),
    WeightControl("negative", "Negative prompt", 2.0),
    WeightControl("prior_identity", "Identity prior", 0.5),
    WeightControl("prior_local_shape", "Local shape prior", 0.5),
    WeightControl("prior_expression", "Expression prior", 0.2),
    WeightControl("expression_sparsity", "Expression sparsity", 0.1),
    WeightControl("texture_smoothness", "Texture smoothness", 5.0),
    WeightControl("shape_symmetry", "Shape symmetry", 2.0),
    WeightControl("texture_symmetry", "Texture symmetry", 5.0),
    WeightControl("identity_preservation", "Identity preservation (continue mode)", 5.0),
)
LEARNING_RATE_RANGE = (0.1, 3.0)  # the "Learning rate ×" slider
PREVIEW_SIZE = 384  # pixels a view of the studio's preview sheets


def run_weights(values: Mapping[str, float], editing: bool) -> dict[str, float]:
    """Slider values as a run's weights: identity preservation only applies when continuing
    from an edited head (a fresh run starts from the neutral head, which the priors cover)."""
    weights = {name: float(value) for name, value in values.items()}
    if editing:
        return {**api.EDIT_WEIGHTS, **weights}
    return {**weights, "identity_preservation": 0.0}


def learning_rates(scale: float) -> dict[str, float]:
    """Every group's default learning rate times one slider value."""
    return {name: rate * float(scale) for name, rate in DEFAULT_LEARNING_RATES.items()}


def preview_image(model: HeadModel, head: HeadParams) -> Image.Image:
    """The views the run previews, rendered for any head (after an edit, a random draw or
    at the end of a run) at `PREVIEW_SIZE`, large enough to see the eyes and the hair."""
    return contact_sheet(preview_views(model, head, views=SCORE_VIEWS,
                                       resolution=PREVIEW_SIZE))


def loss_figure(history: list[dict[str, float]]) -> go.Figure:
    """Every loss term per step, log scale (the terms differ by orders of magnitude)."""
    figure = go.Figure()
    for name in dict.fromkeys(name for losses in history for name in losses):
        steps = [i for i, losses in enumerate(history, start=1) if name in losses]
        values = [history[i - 1][name] for i in steps]
        figure.add_trace(go.Scatter(
            x=steps, y=[v if v > 0 and math.isfinite(v) else None for v in values],
            mode="lines", name=name, line={"width": 3 if name == "total" else 1.5},
        ))
    figure.update_layout(
        height=320, margin={"l": 10, "r": 10, "t": 36, "b": 10}, yaxis_type="log",
        title={"text": "loss terms (unweighted) per step", "font": {"size": 13}},
        xaxis_title="step", legend={"font": {"size": 10}}, template="plotly_white",
    )
    return figure


def clip_label(spec: str) -> str:
    """How a CLIP spec is shown before it is loaded; random weights are always labelled."""
    try:
        parsed = parse_clip_spec(spec)
    except ValueError:
        return spec
    return f"{parsed} ({RANDOM_LABEL})" if parsed.kind == "random" else str(parsed)


def clip_choices() -> list[str]:
    """The CLIP specs offered: TEXT2HEAD_CLIP_CHOICES (comma-separated), else the default."""
    listed = [s.strip() for s in os.environ.get("TEXT2HEAD_CLIP_CHOICES", "").split(",")]
    return list(dict.fromkeys(s for s in listed if s)) or [default_clip_spec()]
