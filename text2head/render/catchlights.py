"""Catchlights: the key light's reflection on each cornea, the strongest cue that eyes are alive.

At preview and CLIP sizes an eye is 10-20 pixels wide and a glossy highlight on it is smaller
than a pixel, so shading would miss it or alias it. Instead each eye is a sphere; the point
whose normal halves the angle between the key light and the camera reflects the key toward the
camera, and where that point is not covered by a lid it gets a small Gaussian sprite.
Differentiable in the eye centres, the cameras and the lights (the lid test is not).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import normalize

from .cameras import Cameras
from .lights import KEY, WARM_KEY, Lights, world_directions
from .rasterize import Fragments, to_screen

# Sprite brightness (display units) under the studio key, and its radius at 224 px.
PEAK = 0.9
SIGMA_PIXELS_AT_224 = 0.6
# The reflecting point must be within this fraction of the eye's radius of the nearest opaque
# depth there; a lid in front of it hides it.
_DEPTH_TOLERANCE = 0.35


def catchlights(eyes: Tensor, cameras: Cameras, lights: Lights, fragments: Fragments) -> Tensor:
    """(B, H, W) catchlight brightness for eyeballs (1 or B, E, 4): centre (metres) and radius.

    The sprite's brightness follows the key light's strength relative to the studio key.
    """
    height, width = fragments.triangle_id.shape[1:]
    n_views = len(cameras)
    eyes = eyes.expand(n_views, -1, -1)
    centres, radius = eyes[..., :3], eyes[..., 3:]
    to_key = world_directions(lights, cameras.rotation)[:, :1].expand(n_views, -1, -1)
    to_eye = normalize(cameras.eye[:, None] - centres, dim=-1)
    glint = centres + radius * normalize(to_key + to_eye, dim=-1)
    clip = cameras.to_clip(glint, width / height)
    screen = to_screen(clip, height, width)  # (B, E, 2)
    visible = _unoccluded(screen.detach(), clip[..., 3].detach(), radius[..., 0], fragments)
    studio_key = KEY[2] * sum(WARM_KEY) / 3
    strength = (lights.colors[:, 0].mean(-1) / studio_key).clamp(0, 1.5).expand(n_views)
    sigma = SIGMA_PIXELS_AT_224 * max(height, width) / 224
    ys = torch.arange(height, dtype=screen.dtype, device=screen.device) + 0.5
    xs = torch.arange(width, dtype=screen.dtype, device=screen.device) + 0.5
    # A Gaussian is separable: two short rows of exponentials and one product per pixel.
    across = torch.exp(-((xs - screen[..., :1]) ** 2) / (2 * sigma**2))  # (B, E, W)
    down = torch.exp(-((ys - screen[..., 1:]) ** 2) / (2 * sigma**2))  # (B, E, H)
    sprites = down[..., :, None] * across[..., None, :]
    weights = PEAK * strength[:, None] * visible
    return (weights[..., None, None] * sprites).sum(1)


@torch.no_grad()
def _unoccluded(screen: Tensor, w: Tensor, radius: Tensor, fragments: Fragments) -> Tensor:
    """(B, E) 1.0 where the glint is in the picture and no surface lies in front of it."""
    height, width = fragments.triangle_id.shape[1:]
    x, y = screen[..., 0].floor().long(), screen[..., 1].floor().long()
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    view = torch.arange(len(screen), device=screen.device)[:, None].expand_as(x)
    depth = fragments.depth[view, y.clamp(0, height - 1), x.clamp(0, width - 1)]
    return (inside & (depth >= w - _DEPTH_TOLERANCE * radius)).to(screen.dtype)
