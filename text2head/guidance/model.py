"""A frozen open_clip model with its tokenizer, preprocessing and a per-prompt text cache."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .preprocess import PreprocessConfig, to_clip_input


class PromptTruncatedWarning(UserWarning):
    """A prompt had more tokens than the CLIP context; its tail was ignored."""


@dataclass(eq=False)
class CLIPModel:
    """One loaded CLIP model. Embeddings are L2-normalised; image encoding is differentiable."""

    model: torch.nn.Module
    tokenizer: Callable[..., Tensor]
    preprocess: PreprocessConfig
    spec: str
    is_random: bool  # random weights: a test/benchmark fixture, never a real guide
    description: str
    _text_cache: dict[str, Tensor] = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int:
        return self.tokenizer.context_length

    def truncated(self, prompts: Sequence[str]) -> list[bool]:
        """Which prompts overflow the context (tokenised one slot longer, is that slot used?)."""
        longer = self.tokenizer(list(prompts), context_length=self.context_length + 1)
        padding = self.tokenizer([""], context_length=self.context_length + 1)[0, -1]
        return (longer[:, -1] != padding).tolist()

    def encode_text(self, prompts: Sequence[str]) -> Tensor:
        """(N, D) embeddings, computed once per distinct prompt; warns on truncated prompts
        when they are first encoded (cached prompts do not warn again: for a per-run check
        use `truncated`, or `CLIPGuide.truncated_prompts`)."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            for prompt, cut in zip(missing, self.truncated(missing), strict=True):
                if cut:
                    warnings.warn(  # the prompt itself is not logged: it is the user's
                        f"prompt longer than the CLIP context ({self.context_length} tokens) "
                        f"was truncated: {len(prompt)} characters, sha256 "
                        f"{hashlib.sha256(prompt.encode()).hexdigest()[:12]}",
                        PromptTruncatedWarning,
                        stacklevel=2,
                    )
            with torch.no_grad():
                tokens = self.tokenizer(missing).to(self.device)
                embeddings = F.normalize(self.model.encode_text(tokens).float(), dim=-1)
            self._text_cache.update(zip(missing, embeddings, strict=True))
        return torch.stack([self._text_cache[p] for p in prompts])

    def encode_images(self, rgb: Tensor) -> Tensor:
        """(B, D) embeddings of images in [0, 1], any size; gradients flow back to ``rgb``."""
        pixels = to_clip_input(rgb.to(self.device), self.preprocess)
        return F.normalize(self.model.encode_image(pixels).float(), dim=-1)
