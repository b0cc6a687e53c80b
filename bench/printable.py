"""Printable busts of 5 random heads at the default settings (100 mm, 0.5 mm voxels): time,
triangles and every check (see `text2head.printing.checks`); prints one JSON line.

Run: python bench/printable.py
"""

from __future__ import annotations

import json
import os
import platform
import time

import torch

from text2head.heads import HeadModel
from text2head.printing import PrintOptions, bust_parts, make_bust
from text2head.printing.checks import check_bust, face_distance_mm

SEEDS = range(5)


def main() -> None:
    model = HeadModel()
    options = PrintOptions()
    times, results = [], []
    for seed in SEEDS:
        head = model.sample(torch.Generator().manual_seed(seed))
        start = time.perf_counter()
        bust = make_bust(bust_parts(model, head), options)
        times.append(time.perf_counter() - start)
        checks = check_bust(bust, sample=5000, seed=seed)
        checks["face_distance_mm"] = face_distance_mm(bust, model, head)
        results.append(checks)
    ok = all(r["watertight"] and r["winding_consistent"] and r["is_volume"] and r["bodies"] == 1
             and r["self_intersections"] == 0 and r["triangles"] <= options.max_triangles
             and abs(r["height_mm"] - options.height_mm) <= options.voxel_mm
             and r["base_flatness_mm"] <= options.voxel_mm and r["face_distance_mm"] <= 0.5
             for r in results) and max(times) <= 15.0
    figures = {
        "heads": len(results),
        "height_mm": options.height_mm,
        "voxel_mm": options.voxel_mm,
        "seconds_mean": round(sum(times) / len(times), 2),
        "seconds_max": round(max(times), 2),
        "triangles_max": max(r["triangles"] for r in results),
        "all_watertight_consistent_volume": all(
            r["watertight"] and r["winding_consistent"] and r["is_volume"] for r in results),
        "bodies_max": max(r["bodies"] for r in results),
        "self_intersections_in_5000_face_samples": sum(r["self_intersections"] for r in results),
        "height_error_mm_max": round(max(abs(r["height_mm"] - options.height_mm)
                                         for r in results), 3),
        "base_flatness_mm_max": round(max(r["base_flatness_mm"] for r in results), 3),
        "face_distance_mm_max": round(max(r["face_distance_mm"] for r in results), 3),
        "volume_cm3": [round(r["volume_mm3"] / 1000, 1) for r in results],
        "all_within_limits": ok,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
