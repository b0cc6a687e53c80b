"""Loss terms and evaluation metrics on L2-normalised CLIP embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Image-embedding changes shorter than this are scored by projection rather than by cosine: at the
# start of an edit the change is exactly zero, where a cosine's gradient is undefined.
MIN_DIRECTION_NORM = 1e-2


def cosine_loss(image_emb: Tensor, text_emb: Tensor) -> Tensor:
    """Mean of 1 - cos over paired rows (N, D) x (N, D)."""
    return (1.0 - (image_emb * text_emb).sum(-1)).mean()


def negative_similarity(image_emb: Tensor, negative_emb: Tensor) -> Tensor:
    """Mean cosine of every image (N, D) to every negative prompt (M, D); lower is better."""
    return (image_emb @ negative_emb.T).mean()


def directional_loss(
    image_emb: Tensor, neutral_image_emb: Tensor, text_emb: Tensor, neutral_text_emb: Tensor
) -> Tensor:
    """1 - cos between the image change (from the neutral head) and the text change (from the
    neutral prompt): steers the edit's direction instead of matching the prompt outright."""
    image_change = image_emb - neutral_image_emb
    image_change = image_change / image_change.norm(dim=-1, keepdim=True).clamp_min(
        MIN_DIRECTION_NORM
    )
    text_change = F.normalize(text_emb - neutral_text_emb, dim=-1)
    return (1.0 - (image_change * text_change).sum(-1)).mean()


def r_precision(image_emb: Tensor, text_emb: Tensor) -> float:
    """Fraction of results i whose own prompt i is the most similar of all N prompts."""
    similarity = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T
    own = torch.arange(similarity.shape[0], device=similarity.device)
    return (similarity.argmax(dim=1) == own).float().mean().item()
