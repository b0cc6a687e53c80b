"""CLIP guidance: load frozen open_clip models and score renders against text prompts.

Typical use::

    clip = load_clip()  # TEXT2HEAD_CLIP or ViT-B-32:laion2b_s34b_b79k
    guide = CLIPGuide(clip, n_augment=4)
    terms = guide.loss(rgb, alpha, "an old bearded man", generator=torch.Generator().manual_seed(0))
    terms["total"].backward()
"""

from .guide import NEUTRAL_PROMPT, CLIPGuide, view_prompt
from .loading import (
    CLIP_ENV_VAR,
    DEFAULT_CLIP_SPEC,
    TINY_ARCH,
    CLIPSpec,
    CLIPWeightsUnavailable,
    default_clip_spec,
    load_clip,
    parse_clip_spec,
)
from .losses import cosine_loss, directional_loss, negative_similarity, r_precision
from .model import CLIPModel, PromptTruncatedWarning
from .preprocess import (
    AugmentConfig,
    AugmentParams,
    PreprocessConfig,
    apply_augments,
    composite,
    sample_augments,
    to_clip_input,
)

__all__ = [
    "CLIP_ENV_VAR",
    "DEFAULT_CLIP_SPEC",
    "NEUTRAL_PROMPT",
    "TINY_ARCH",
    "AugmentConfig",
    "AugmentParams",
    "CLIPGuide",
    "CLIPModel",
    "CLIPSpec",
    "CLIPWeightsUnavailable",
    "PreprocessConfig",
    "PromptTruncatedWarning",
    "apply_augments",
    "composite",
    "cosine_loss",
    "default_clip_spec",
    "directional_loss",
    "load_clip",
    "negative_similarity",
    "parse_clip_spec",
    "r_precision",
    "sample_augments",
    "to_clip_input",
    "view_prompt",
]
