"""CLIP guidance for renders: augmented, optionally view-aware and ensembled losses and scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .losses import cosine_loss, directional_loss, negative_similarity
from .model import CLIPModel
from .preprocess import AugmentConfig, apply_augments, composite, sample_augments

NEUTRAL_PROMPT = "a 3D render of a neutral human head"


def view_prompt(prompt: str, yaw_degrees: float) -> str:
    """Prefix the prompt with the viewing side; yaw 0 looks at the face, +-180 at the back."""
    yaw = abs((yaw_degrees + 180.0) % 360.0 - 180.0)
    side = "front" if yaw <= 45.0 else "side" if yaw <= 135.0 else "back"
    return f"{side} view of {prompt}"


def _check_render(rgb: Tensor, alpha: Tensor, name: str = "rgb/alpha") -> None:
    if rgb.ndim != 4 or rgb.shape[1] != 3 or alpha.shape != (rgb.shape[0], 1, *rgb.shape[2:]):
        raise ValueError(
            f"{name}: expected rgb (B, 3, H, W) and alpha (B, 1, H, W), "
            f"got {tuple(rgb.shape)} and {tuple(alpha.shape)}"
        )


@dataclass(frozen=True)
class _Batch:
    """One step's augmented renders and prompts, shared by every model of the ensemble."""

    images: Tensor  # (views * n_augment, 3, H, W)
    prompts: list[str]  # one per view
    n_augment: int
    negatives: list[str]
    neutral_images: Tensor | None = None
    neutral_prompts: list[str] | None = None


def _model_terms(model: CLIPModel, batch: _Batch) -> dict[str, Tensor]:
    """Unweighted loss terms of one model."""
    image_emb = model.encode_images(batch.images)
    text_emb = model.encode_text(batch.prompts).repeat_interleave(batch.n_augment, dim=0)
    terms = {"clip": cosine_loss(image_emb, text_emb)}
    if batch.negatives:
        terms["negative"] = negative_similarity(image_emb, model.encode_text(batch.negatives))
    if batch.neutral_images is not None:
        with torch.no_grad():
            neutral_emb = model.encode_images(batch.neutral_images)
        neutral_text = model.encode_text(batch.neutral_prompts)
        neutral_text = neutral_text.repeat_interleave(batch.n_augment, dim=0)
        terms["directional"] = directional_loss(image_emb, neutral_emb, text_emb, neutral_text)
    return terms


class CLIPGuide:
    """Scores renders against prompts with one CLIP model or a weighted ensemble.

    All models must be on one device. Ensemble weights are normalised to sum to 1 and every loss
    term is the weighted mean of the per-model terms. ``encode_*`` return the models' embeddings
    concatenated, each scaled by sqrt(weight), so that a dot product of two such embeddings is
    the weighted mean cosine.
    """

    def __init__(
        self,
        models: CLIPModel | Sequence[tuple[CLIPModel, float]],
        *,
        n_augment: int = 4,
        augment: AugmentConfig | None = None,
        negative_weight: float = 0.5,
        directional_weight: float = 1.0,
        neutral_prompt: str = NEUTRAL_PROMPT,
    ) -> None:
        pairs = [(models, 1.0)] if isinstance(models, CLIPModel) else list(models)
        total = sum(weight for _, weight in pairs)
        if not pairs or total <= 0 or any(weight < 0 for _, weight in pairs):
            raise ValueError("CLIPGuide needs at least one model and non-negative weights > 0")
        self.models = [(model, weight / total) for model, weight in pairs]
        self.n_augment = n_augment
        self.augment = augment or AugmentConfig()
        self.negative_weight = negative_weight
        self.directional_weight = directional_weight
        self.neutral_prompt = neutral_prompt

    @property
    def is_random(self) -> bool:
        """True if any model has random weights (a test fixture: results mean nothing)."""
        return any(model.is_random for model, _ in self.models)

    @property
    def description(self) -> str:
        if len(self.models) == 1:
            return self.models[0][0].description
        return " + ".join(f"{weight:.2f} x {model.description}" for model, weight in self.models)

    @property
    def context_length(self) -> int:
        """Tokens the guide reads of a prompt: the shortest context of its models."""
        return min(model.context_length for model, _ in self.models)

    def truncated_prompts(self, prompts: Sequence[str]) -> list[str]:
        """The distinct prompts that some model cuts to its context length, in order.

        Cheap (tokenising only) and independent of the text cache, so every run can tell
        its user, not only the first run to encode a prompt (which also warns)."""
        distinct = list(dict.fromkeys(prompts))
        if not distinct:
            return []
        cut = [model.truncated(distinct) for model, _ in self.models]
        return [prompt for prompt, *flags in zip(distinct, *cut, strict=True) if any(flags)]

    def encode_text(self, prompts: Sequence[str]) -> Tensor:
        """(N, D) ensemble text embeddings (cached per prompt by each model)."""
        return torch.cat([m.encode_text(prompts) * w**0.5 for m, w in self.models], dim=-1)

    def encode_images(self, rgb: Tensor) -> Tensor:
        """(N, D) ensemble embeddings of images in [0, 1]; differentiable."""
        return torch.cat([m.encode_images(rgb) * w**0.5 for m, w in self.models], dim=-1)

    def clip_score(
        self,
        rgb: Tensor,
        prompt: str | Sequence[str],
        *,
        alpha: Tensor | None = None,
        background: float = 1.0,
    ) -> Tensor:
        """(B,) 100 * cos of un-augmented images to their prompt, for best-step selection and
        evaluation; with ``alpha``, images are first put over a solid ``background``."""
        prompts = [prompt] * rgb.shape[0] if isinstance(prompt, str) else list(prompt)
        with torch.no_grad():
            images = rgb if alpha is None else composite(rgb, alpha, background)
            image_emb = self.encode_images(images)
            return 100.0 * (image_emb * self.encode_text(prompts)).sum(-1)

    def loss(
        self,
        rgb: Tensor,
        alpha: Tensor,
        prompt: str,
        *,
        negative: str | Sequence[str] | None = None,
        neutral: tuple[Tensor, Tensor] | None = None,
        generator: torch.Generator | None = None,
        n_augment: int | None = None,
        yaw: Sequence[float] | Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Named loss terms for renders rgb (B, 3, H, W) in [0, 1] with alpha (B, 1, H, W).

        Always "clip" (1 - cos, mean over views and augmentations) and "total" (the weighted sum
        to minimise); "negative" (mean cos to the negative prompts) when ``negative`` is given;
        "directional" when ``neutral`` renders (the neutral head from the same cameras) are given.
        ``yaw`` (degrees per view) switches on view-dependent phrasing of the prompts.
        """
        _check_render(rgb, alpha)
        views = rgb.shape[0]
        n_augment = n_augment or self.n_augment
        params = sample_augments(
            views, n_augment, tuple(rgb.shape[-2:]), generator, self.augment, rgb.device
        )
        neutral_images = neutral_prompts = None
        if neutral is not None:
            _check_render(*neutral, name="neutral")
            if neutral[0].shape != rgb.shape:
                raise ValueError("neutral renders must come from the same cameras as rgb")
            with torch.no_grad():
                neutral_images = apply_augments(*neutral, params)
            neutral_prompts = self._phrase(self.neutral_prompt, yaw, views)
        batch = _Batch(
            images=apply_augments(rgb, alpha, params),
            prompts=self._phrase(prompt, yaw, views),
            n_augment=n_augment,
            negatives=[negative] if isinstance(negative, str) else list(negative or []),
            neutral_images=neutral_images,
            neutral_prompts=neutral_prompts,
        )

        per_model = [(weight, _model_terms(model, batch)) for model, weight in self.models]
        terms = {name: sum(w * t[name] for w, t in per_model) for name in per_model[0][1]}
        terms["total"] = (
            terms["clip"]
            + self.negative_weight * terms.get("negative", 0.0)
            + self.directional_weight * terms.get("directional", 0.0)
        )
        return terms

    def image_loss(
        self,
        rgb: Tensor,
        alpha: Tensor,
        target: tuple[Tensor, Tensor],
        *,
        generator: torch.Generator | None = None,
        n_augment: int | None = None,
    ) -> Tensor:
        """1 - cos between augmented renders and the same augmentations of target renders
        (rgb, alpha) from the same cameras: guidance by a reference head instead of text."""
        _check_render(rgb, alpha)
        _check_render(*target, name="target")
        if target[0].shape != rgb.shape:
            raise ValueError("target renders must come from the same cameras as rgb")
        params = sample_augments(
            rgb.shape[0], n_augment or self.n_augment, tuple(rgb.shape[-2:]), generator,
            self.augment, rgb.device,
        )
        with torch.no_grad():
            target_emb = self.encode_images(apply_augments(*target, params))
        return cosine_loss(self.encode_images(apply_augments(rgb, alpha, params)), target_emb)

    @staticmethod
    def _phrase(prompt: str, yaw: Sequence[float] | Tensor | None, views: int) -> list[str]:
        if yaw is None:
            return [prompt] * views
        yaws = torch.as_tensor(yaw, dtype=torch.float64).flatten().tolist()
        if len(yaws) != views:
            raise ValueError(f"yaw: expected {views} values (one per view), got {len(yaws)}")
        return [view_prompt(prompt, y) for y in yaws]
