"""The image tower's differentiable pass, made cheaper without changing what it computes.

Guidance back-propagates through CLIP's image tower at every step (weights frozen, gradient to
the pixels), and on a CPU two of open_clip's ViT layouts cost more than their arithmetic:
- `nn.MultiheadAttention(batch_first=True)` transposes its (N, L, D) input, and the
  in-projection of that non-contiguous batch runs as a broadcast batched matrix product, forward
  and backward. In the sequence-first layout the transformer makes one contiguous copy up front
  and every projection is a plain matrix product.
- The patch embedding is a convolution whose stride equals its kernel. Its input gradient
  through oneDNN costs about 100 ms for 4 images at 224 px on 2 cores; the same map, written as
  non-overlapping patches times a matrix, is one matrix product each way.
ViT-B-32, 4 images at 224 px, forward and backward on 2 cores: 0.66-0.78 s before, 0.48-0.51 s
after (`bench/render.py` reports both). Results agree to float rounding (tests compare them).
"""

from __future__ import annotations

import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from torch import Tensor, nn


class PatchEmbedding(nn.Module):
    """A stride-equals-kernel `nn.Conv2d` as patches times a matrix; keeps the convolution's
    parameters (and so its state-dict keys: `weight`, `bias`)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        self.patch = conv.kernel_size[0]

    def forward(self, images: Tensor) -> Tensor:
        n, channels, height, width = images.shape
        p = self.patch
        rows, cols = height // p, width // p  # a strided convolution drops the remainder too
        patches = (images[:, :, :rows * p, :cols * p]
                   .reshape(n, channels, rows, p, cols, p)
                   .permute(0, 2, 4, 1, 3, 5)
                   .reshape(n, rows * cols, channels * p * p))
        embedded = F.linear(patches, self.weight.reshape(len(self.weight), -1), self.bias)
        return embedded.transpose(1, 2).reshape(n, -1, rows, cols)


def is_patchify(conv: nn.Module) -> bool:
    """Whether `conv` is a square convolution over non-overlapping, unpadded patches."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size[0] == conv.kernel_size[1]
            and tuple(conv.stride) == tuple(conv.kernel_size) and conv.groups == 1
            and tuple(conv.dilation) == (1, 1) and conv.padding in ((0, 0), "valid")
            and conv.padding_mode == "zeros")


def use_fast_layouts(model: nn.Module) -> list[str]:
    """Switch a CLIP model's ViT image tower (in place) to the layouts above; other towers
    (ResNets, timm) are left as they are. Returns what was changed, for the record."""
    visual = getattr(model, "visual", None)
    if not isinstance(visual, VisionTransformer):
        return []
    changed = []
    if is_patchify(visual.conv1):
        visual.conv1 = PatchEmbedding(visual.conv1)
        changed.append("patch embedding as a matrix product")
    transformer = visual.transformer
    attentions = [getattr(block, "attn", None) for block in transformer.resblocks]
    if (getattr(transformer, "batch_first", False)
            and all(isinstance(attn, nn.MultiheadAttention) and attn.batch_first
                    for attn in attentions)):
        transformer.batch_first = False
        for attn in attentions:
            attn.batch_first = False
        changed.append("sequence-first attention")
    return changed
