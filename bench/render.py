"""Renderer cost next to CLIP: prints one JSON line of named figures.

Times forward and forward+backward of `text2head.render.render` for 1 and 4 views at 224x224 of
the built-in head (textured, random lights, vertices and texture requiring grad, as in an
optimisation step), and in the same run the open_clip ViT-B-32 image encoder forward+backward for
the same batch (random weights cost the same as real ones; weights frozen, gradient to the
pixels, as in guidance). Times are the best of N repeats.

Usage: python bench/render.py [--device cpu|cuda] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import open_clip
import torch

from text2head.heads import HeadModel
from text2head.render import Cameras, Lights, face_neighbors, render

SIZE = 224
TARGET_RATIO = 0.15  # render / CLIP, 4 views, 2 CPU cores


def _best_ms(step: Callable[[], None], device: torch.device, repeats: int) -> float:
    """Best wall time of `step` after two warm-up calls: on a shared machine the minimum is the
    estimate least disturbed by other processes."""
    times = []
    for index in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index >= 2:
            times.append(1000 * (time.perf_counter() - start))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)

    model = HeadModel()
    with torch.no_grad():
        decoded = model.decode(model.neutral())
    vertices, texture = decoded.vertices.to(device), decoded.texture.to(device)
    faces, corner_uvs = model.faces.to(device), model.corner_uvs.to(device)
    neighbors = face_neighbors(faces)
    clip = open_clip.create_model("ViT-B-32").visual.to(device).eval().requires_grad_(False)

    figures: dict[str, object] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "vertices": vertices.shape[1], "faces": len(faces), "texture": texture.shape[-1],
        "resolution": SIZE, "repeats": args.repeats,
    }
    for n_views in (1, 4):
        generator = torch.Generator().manual_seed(n_views)
        cameras = Cameras.sample_views(generator, n_views, device=device)
        lights = Lights.random(generator, n_views, device=device)

        def forward(grad: bool, cameras: Cameras = cameras, lights: Lights = lights) -> None:
            leaf_vertices = vertices.clone().requires_grad_(grad)
            leaf_texture = texture.clone().requires_grad_(grad)
            with torch.set_grad_enabled(grad):
                out = render(leaf_vertices, faces, cameras, corner_uvs=corner_uvs,
                             texture=leaf_texture, lights=lights, neighbors=neighbors,
                             resolution=SIZE)
            if grad:
                out.rgb.mean().backward()

        def clip_step(n_views: int = n_views) -> None:
            images = torch.rand(n_views, 3, SIZE, SIZE, device=device, requires_grad=True)
            clip(images).sum().backward()

        figures[f"render_fwd_ms_{n_views}"] = _best_ms(lambda: forward(False), device,
                                                         args.repeats)
        figures[f"render_fwd_bwd_ms_{n_views}"] = _best_ms(lambda: forward(True), device,
                                                             args.repeats)
        figures[f"clip_fwd_bwd_ms_{n_views}"] = _best_ms(clip_step, device, args.repeats)
        figures[f"ratio_{n_views}"] = (figures[f"render_fwd_bwd_ms_{n_views}"]
                                       / figures[f"clip_fwd_bwd_ms_{n_views}"])
    figures["target_ratio_4"] = TARGET_RATIO
    figures["meets_target"] = figures["ratio_4"] <= TARGET_RATIO
    print(json.dumps({key: round(value, 4) if isinstance(value, float) else value
                      for key, value in figures.items()}))


if __name__ == "__main__":
    main()
