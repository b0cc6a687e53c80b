"""Head model speed on this machine; prints one JSON line of named figures.

Run: python bench/head_model.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_ms  # noqa: E402

from text2head.heads import HeadModel  # noqa: E402


def main() -> None:
    start = time.perf_counter()
    model = HeadModel()
    figures = {"load_s": round(time.perf_counter() - start, 3)}
    for batch in (1, 8):
        head = model.neutral(batch).map(lambda t: t.clone().requires_grad_(True))

        def forward(head=head):
            with torch.no_grad():
                model.decode(head)

        def forward_backward(head=head):
            out = model.decode(head)
            (out.vertices.sum() + out.normals.sum() + out.texture.sum()).backward()

        def geometry_forward_backward(head=head):
            model.rest_vertices(head).sum().backward()

        figures[f"decode_forward_b{batch}_ms"] = median_ms(forward)
        figures[f"decode_forward_backward_b{batch}_ms"] = median_ms(forward_backward)
        figures[f"geometry_forward_backward_b{batch}_ms"] = median_ms(geometry_forward_backward)
    figures.update(
        vertices=len(model.template),
        faces=len(model.faces),
        texture_size=model.texture_size,
        threads=torch.get_num_threads(),
        cpus=os.cpu_count(),
        torch=torch.__version__,
        machine=platform.processor() or platform.machine(),
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
