"""Differentiable CLIP input preparation and render augmentations.

Everything here works on float tensors in [0, 1] and keeps the autograd graph to ``rgb`` and
``alpha``: CLIP guidance back-propagates through these ops into the renderer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import open_clip
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class PreprocessConfig:
    """The model's own input size and normalisation (what open_clip's PIL transform would do)."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> PreprocessConfig:
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg["size"]
        return cls(
            size=(size, size) if isinstance(size, int) else tuple(size),
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            interpolation=cfg.get("interpolation", "bicubic"),
            resize_mode=cfg.get("resize_mode", "shortest"),
        )


def _center_crop_to_aspect(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Centre crop to the target aspect, so that a resize afterwards matches 'shortest' mode."""
    height, width = images.shape[-2:]
    aspect = size[1] / size[0]
    crop_h = min(height, round(width / aspect))
    crop_w = min(width, round(crop_h * aspect))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return images[..., top : top + crop_h, left : left + crop_w]


def to_clip_input(rgb: Tensor, cfg: PreprocessConfig) -> Tensor:
    """Resize (antialiased) to the model's input size and normalise with its mean/std.

    'shortest' (open_clip's default) is a centre crop to the model's aspect then a resize;
    'squash' resizes directly. Other modes are treated as 'shortest'.
    """
    if cfg.resize_mode != "squash":
        rgb = _center_crop_to_aspect(rgb, cfg.size)
    if tuple(rgb.shape[-2:]) != cfg.size:
        mode = "bilinear" if cfg.interpolation == "bilinear" else "bicubic"
        rgb = F.interpolate(rgb, size=cfg.size, mode=mode, antialias=True, align_corners=False)
    mean = rgb.new_tensor(cfg.mean).view(1, 3, 1, 1)
    std = rgb.new_tensor(cfg.std).view(1, 3, 1, 1)
    return (rgb - mean) / std


def composite(rgb: Tensor, alpha: Tensor, background: Tensor | float) -> Tensor:
    """Put a render over a background through its alpha (background: scalar, colour or image)."""
    return rgb * alpha + background * (1.0 - alpha)


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the per-view augmentations (torchvision-style conventions)."""

    crop_scale: tuple[float, float] = (0.6, 1.0)  # area fraction kept by the random resized crop
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratio range of the crop
    perspective: float = 0.3  # max corner displacement, as a fraction of the half image side
    perspective_p: float = 0.5  # probability of applying the perspective warp
    noise_background_p: float = 0.5  # probability of a noise background (else a solid colour)


@dataclass(frozen=True)
class AugmentParams:
    """Sampled augmentations, reusable so that two render batches get identical ones."""

    grid: Tensor  # (N, H, W, 2) sampling grid for grid_sample, N = views * n_augment
    background: Tensor  # (N, 3, H, W)
    n_augment: int


def _uniform(
    shape: tuple[int, ...],
    low: float,
    high: float,
    generator: torch.Generator | None,
    device: torch.device | str,
) -> Tensor:
    """Uniform draws made on the generator's device (reproducible per seed), moved to ``device``."""
    source = generator.device if generator is not None else None
    draw = torch.rand(shape, generator=generator, device=source) * (high - low) + low
    return draw.to(device)


def _homographies(src: Tensor, dst: Tensor) -> Tensor:
    """(N, 3, 3) homographies mapping 4 src points to 4 dst points, both (N, 4, 2)."""
    u, v = src.unbind(-1)
    x, y = dst.unbind(-1)
    one, zero = torch.ones_like(u), torch.zeros_like(u)
    rows_x = torch.stack([u, v, one, zero, zero, zero, -u * x, -v * x], dim=-1)
    rows_y = torch.stack([zero, zero, zero, u, v, one, -u * y, -v * y], dim=-1)
    system = torch.cat([rows_x, rows_y], dim=1)  # (N, 8, 8)
    h = torch.linalg.solve(system, torch.cat([x, y], dim=1))
    return torch.cat([h, torch.ones_like(h[:, :1])], dim=1).view(-1, 3, 3)


def _sample_grid(
    count: int,
    size: tuple[int, int],
    generator: torch.Generator | None,
    cfg: AugmentConfig,
    device: torch.device | str,
) -> Tensor:
    """Sampling grid (in grid_sample's [-1, 1] coordinates) of a perspective warp then a crop."""

    def uniform(shape: tuple[int, ...], low: float, high: float) -> Tensor:
        return _uniform(shape, low, high, generator, device)

    # Perspective: each output corner reads from a corner moved along the diagonal, in or out.
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=device)
    shift = uniform((count, 4, 2), -cfg.perspective, cfg.perspective)
    shift = shift * (uniform((count, 1, 1), 0.0, 1.0) < cfg.perspective_p)
    warp = _homographies(corners.expand(count, 4, 2), corners * (1 - shift))

    # Random resized crop: area fraction and log-uniform aspect ratio, placed inside the frame.
    area = uniform((count,), *cfg.crop_scale)
    ratio = uniform((count,), *(math.log(r) for r in cfg.crop_ratio)).exp()
    half = torch.stack([(area * ratio).sqrt(), (area / ratio).sqrt()], dim=-1).clamp(max=1.0)
    centre = uniform((count, 2), -1.0, 1.0) * (1 - half)

    identity = torch.eye(2, 3, device=device).expand(count, 2, 3)
    base = F.affine_grid(identity, [count, 1, *size], align_corners=False)  # (N, H, W, 2)
    homogeneous = torch.cat([base, torch.ones_like(base[..., :1])], dim=-1)
    mapped = torch.einsum("nij,nhwj->nhwi", warp, homogeneous)
    mapped = mapped[..., :2] / mapped[..., 2:]
    return centre.view(count, 1, 1, 2) + half.view(count, 1, 1, 2) * mapped


def sample_augments(
    n_views: int,
    n_augment: int,
    size: tuple[int, int],
    generator: torch.Generator | None = None,
    cfg: AugmentConfig | None = None,
    device: torch.device | str = "cpu",
) -> AugmentParams:
    """Draw ``n_augment`` augmentations per view of ``size`` from ``generator``.

    ``generator`` None uses torch's global RNG. Draws happen on the generator's device, so a seed
    gives the same augmentations whatever device the renders live on.
    """
    cfg = cfg or AugmentConfig()
    count = n_views * n_augment
    grid = _sample_grid(count, size, generator, cfg, device)
    solid = _uniform((count, 3, 1, 1), 0.0, 1.0, generator, device).expand(count, 3, *size)
    noise = _uniform((count, 3, *size), 0.0, 1.0, generator, device)
    use_noise = _uniform((count, 1, 1, 1), 0.0, 1.0, generator, device) < cfg.noise_background_p
    background = torch.where(use_noise, noise, solid)
    return AugmentParams(grid=grid, background=background, n_augment=n_augment)


def apply_augments(rgb: Tensor, alpha: Tensor, params: AugmentParams) -> Tensor:
    """Warp rgb and alpha together, then composite over the sampled backgrounds.

    rgb (B, 3, H, W), alpha (B, 1, H, W) -> (B * n_augment, 3, H, W), view-major order.
    Areas warped in from outside the frame get alpha 0, so the background fills them.
    """
    rgba = torch.cat([rgb, alpha], dim=1).repeat_interleave(params.n_augment, dim=0)
    grid = params.grid.to(rgba.dtype)
    warped = F.grid_sample(rgba, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return composite(warped[:, :3], warped[:, 3:], params.background.to(rgba.dtype))
