"""Ambient occlusion cost: prints one JSON line of named figures.

`bake_s_*` is one `ambient_occlusion` call (every vertex, `RAYS` rays) on the neutral head
bald, and with long hair and a full beard (the biggest scene); `miss_s_*` is what a scene
compose pays on top when its occlusion must be baked (both jaw extremes decoded and baked);
`hit_ms` is what a compose pays when the cached bake still fits. Times are the best of N
repeats (the minimum is the estimate least disturbed on a shared machine).

Usage: python bench/occlusion.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from text2head.heads import HeadModel
from text2head.heads.occlusion import RAYS, OcclusionCache, ambient_occlusion
from text2head.heads.scene import scene_vertices

STYLES = {"bald": {}, "long_hair_beard": {"hair": "long01", "facial_hair": "full_beard"}}


def best_seconds(step: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    model = HeadModel()
    figures: dict[str, float | int] = {"rays_per_vertex": RAYS}
    for name, styles in STYLES.items():
        head = model.neutral().with_styles(**styles)
        scene = model.scene(head)
        decoded = model.decode(head)
        figures[f"vertices_{name}"] = scene.vertices.shape[1]
        figures[f"bake_s_{name}"] = round(best_seconds(
            lambda s=scene: ambient_occlusion(s.vertices, s.faces, s.hair_faces), repeats), 3)

        def compose(cache: OcclusionCache, h=head, d=decoded, s=scene) -> None:
            cache(h, scene_vertices(d), d.rotation, s.faces, s.hair_faces)

        figures[f"miss_s_{name}"] = round(best_seconds(
            lambda c=compose: c(OcclusionCache(model, scene_vertices)), repeats), 3)
        warm = OcclusionCache(model, scene_vertices)
        compose(warm)
        figures[f"hit_ms_{name}"] = round(1000 * best_seconds(lambda w=warm: compose(w),
                                                              10 * repeats), 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
