"""An animated preview of a clip: the head from the front and at three-quarter, side by side,
rendered by our own renderer and written as a looping animated WebP.

Frames are looked at every `FRAME_SECONDS` and at every blink's closed key (a blink is
shorter than two frames), and one is rendered only when some morph weight has moved by
`CHANGE` since the last; in between, the previous frame is simply shown longer. A still
stretch of a clip costs nothing. Rendering is most of the cost (about 0.1 s a frame on two
CPU cores), so the preview runs at 10 frames a second, as lip-sync animation often does.
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
FRAME_SECONDS = 0.1  # the finest frame spacing
BLINKS = ("eyeBlinkLeft", "eyeBlinkRight")
CHANGE = 0.05  # a new frame once any weight has moved this much
# One occlusion bake serves the whole clip: a blink or a viseme moves a few millimetres, and
# the bake already blends the jaw's two extremes.
STILL = 1.0


def frame_times(clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """Times of the frames to render and how long each is shown (seconds)."""
    grid = np.arange(0.0, clip.duration, FRAME_SECONDS)
    blinks = np.stack([clip.weights[:, clip.targets.index(name)] for name in BLINKS]).max(0)
    closed = clip.times[(blinks == 1) & (clip.times < clip.duration)]
    candidates = np.unique(np.concatenate([grid, closed]))
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
        # method 0: the encoder's least effort, 2.5 times faster than its default for a file
        # a little larger at the same quality.
        frames[0].save(temporary, format="WEBP", save_all=True, append_images=frames[1:],
                       duration=milliseconds, loop=0, quality=85, method=0)
