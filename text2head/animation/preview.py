"""An animated preview of a clip: the head from the front and at three-quarter, side by side,
rendered by our own renderer and written as a looping animated WebP.

A frame is rendered only when some morph weight has moved by `CHANGE` since the last one
(the clip's keys are always looked at, so no blink falls between two frames); in between,
the previous frame is simply shown longer. A still stretch of a clip costs nothing.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from text2head.animation.clip import Clip
from text2head.heads import HeadModel, HeadParams
from text2head.heads.occlusion import OcclusionCache
from text2head.heads.scene import scene_vertices
from text2head.io import PathLike, atomic_write
from text2head.preview import contact_sheet, render_composed
from text2head.render import Cameras

PREVIEW_VIEWS = ("front", "three_quarter")
PREVIEW_SIZE = 256  # pixels a view
PREVIEW_FOV = 22.0  # degrees: closer than the still previews' 30, since the motion is in the face
FRAME_SECONDS = 0.08  # the finest frame spacing (12.5 frames a second)
CHANGE = 0.05  # a new frame once any weight has moved this much
# One occlusion bake serves the whole clip: a blink or a viseme moves a few millimetres, and
# the bake already blends the jaw's two extremes.
STILL = 1.0


def frame_times(clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """Times of the frames to render and how long each is shown (seconds)."""
    grid = np.arange(0.0, clip.duration, FRAME_SECONDS)
    candidates = np.unique(np.concatenate([grid, clip.times[clip.times < clip.duration]]))
    chosen, last = [], None
    for time in candidates:
        weights = clip.at(float(time))
        if last is None or np.abs(weights - last).max() >= CHANGE:
            chosen.append(time)
            last = weights
    times = np.array(chosen)
    return times, np.diff(np.append(times, clip.duration))


def render_frames(model: HeadModel, head: HeadParams, clip: Clip,
                  size: int = PREVIEW_SIZE) -> tuple[list[Image.Image], list[int]]:
    """The preview's frames and their durations in milliseconds."""
    head = head.select(0).detach()
    names = tuple(model.specs["expression"].names)
    if clip.targets != names:
        raise ValueError(f"clip {clip.name!r} animates other morph targets than the model's")
    device = model.template.device
    cameras = Cameras.named_views(list(PREVIEW_VIEWS), fov=PREVIEW_FOV, device=device)
    occlusion = OcclusionCache(model, scene_vertices, size=1, refresh=STILL)
    times, shown = frame_times(clip)
    frames = []
    with torch.no_grad():
        # Bake with the jaw a little open, so that both of its extremes are baked.
        opened = head.expression.clone()
        opened[:, names.index("jawOpen")] = opened[:, names.index("jawOpen")].clamp(min=0.01)
        model.scene(head.with_group("expression", opened), occlusion_cache=occlusion)
        for time in times:
            weights = torch.as_tensor(clip.at(float(time)), dtype=head.expression.dtype)
            posed = head.with_group("expression", weights[None].to(device))
            scene = model.scene(posed, occlusion_cache=occlusion)
            frames.append(contact_sheet(render_composed(scene, cameras, resolution=size).rgb))
    milliseconds = np.maximum(np.round(1000 * shown), 1).astype(int).tolist()
    return frames, milliseconds


def save_preview(model: HeadModel, head: HeadParams, clip: Clip, path: PathLike,
                 size: int = PREVIEW_SIZE) -> None:
    """Write the clip's preview as a looping animated WebP at `path` (atomically)."""
    frames, milliseconds = render_frames(model, head, clip, size)
    with atomic_write(path) as temporary:
        frames[0].save(temporary, format="WEBP", save_all=True, append_images=frames[1:],
                       duration=milliseconds, loop=0, quality=85, method=4)
