"""Preview images of a head: fixed named views rendered and laid out side by side."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from text2head.heads import HeadModel, HeadOutput, HeadParams
from text2head.heads.occlusion import OcclusionCache
from text2head.heads.scene import Scene
from text2head.render import Cameras, Lights, RenderOutput, render

PREVIEW_VIEWS = ("front", "three_quarter", "left", "right", "back")
TURNTABLE_FRAMES_AT_ONCE = 4
TURNTABLE_SIZE = 320  # pixels a frame: large enough to see the eyes and the hair


def render_scene(
    model: HeadModel,
    head: HeadParams,
    decoded: HeadOutput,
    cameras: Cameras,
    *,
    resolution: int = 256,
    background=1.0,
    lights: Lights | None = None,
    occlusion: bool = True,
    occlusion_cache: OcclusionCache | None = None,
) -> RenderOutput:
    """Render a decoded head (batch of one) with all its parts from every camera (with its
    ambient occlusion unless told otherwise, from `occlusion_cache` when given)."""
    scene = model.scene(head, decoded, occlusion=occlusion, occlusion_cache=occlusion_cache)
    return render_composed(scene, cameras, resolution=resolution, background=background,
                           lights=lights)


def render_composed(
    scene: Scene,
    cameras: Cameras,
    *,
    resolution: int = 256,
    background=1.0,
    lights: Lights | None = None,
) -> RenderOutput:
    """Render a head already composed with its parts into one scene (composed once, rendered
    from several batches of cameras)."""
    return render(scene.vertices, scene.faces, cameras, **scene.render_kwargs(),
                  lights=lights or Lights.default(len(cameras)), background=background,
                  resolution=resolution)


def render_head(
    model: HeadModel,
    head: HeadParams,
    cameras: Cameras,
    *,
    decoded: HeadOutput | None = None,
    resolution: int = 256,
    background: float = 1.0,
    lights: Lights | None = None,
    occlusion: bool = True,
) -> torch.Tensor:
    """(N, 3, H, W) images of the first head, one per camera (decoded here unless given)."""
    head = head.select(0)
    if decoded is None:
        decoded = model.decode(head)
    return render_scene(model, head, decoded, cameras, resolution=resolution,
                        background=background, lights=lights, occlusion=occlusion).rgb


def preview_views(
    model: HeadModel, head: HeadParams, views=PREVIEW_VIEWS, resolution: int = 256
) -> torch.Tensor:
    """(len(views), 3, H, W) renders of the first head from the named views."""
    with torch.no_grad():
        cameras = Cameras.named_views(list(views), device=model.template.device)
        return render_head(model, head, cameras, resolution=resolution)


def contact_sheet(images: torch.Tensor) -> Image.Image:
    """Lay (N, 3, H, W) images in [0, 1] out in one row."""
    row = torch.cat(list(images.detach().cpu().clamp(0, 1)), dim=2)  # (3, H, N*W)
    return Image.fromarray((row.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def turntable(
    model: HeadModel, head: HeadParams, frames: int = 24, resolution: int = TURNTABLE_SIZE,
    frames_at_once: int = TURNTABLE_FRAMES_AT_ONCE,
) -> torch.Tensor:
    """(frames, 3, H, W) renders of the first head on a full turn of the camera, a few frames
    at a time: the renderer's buffers grow with the views in a batch, and all 24 at once
    were the largest allocation of a finished run (about 0.5 GB)."""
    yaw = torch.arange(frames) * (360.0 / frames)
    orbits = [Cameras.look_at_orbit(some, 0.0, device=model.template.device)
              for some in yaw.split(frames_at_once)]
    with torch.no_grad():
        scene = model.scene(head.select(0))
        return torch.cat([render_composed(scene, cameras, resolution=resolution).rgb
                          for cameras in orbits])


def save_gif(frames: torch.Tensor, path, seconds_per_frame: float = 0.08) -> None:
    """Write (N, 3, H, W) frames in [0, 1] as a looping GIF."""
    images = [contact_sheet(frame[None]) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 * seconds_per_frame), loop=0)
