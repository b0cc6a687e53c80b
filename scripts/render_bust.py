"""Render a printable bust with text2head's own renderer (plain grey): assets/bust.png.

Run: python scripts/render_bust.py [--seed N] [--out assets/bust.png]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from text2head.heads import HeadModel
from text2head.preview import contact_sheet
from text2head.printing import bust_parts, make_bust
from text2head.printing.bust import PRINT_FROM_MODEL
from text2head.render import Cameras, render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="assets/bust.png")
    args = parser.parse_args()
    model = HeadModel()
    bust = make_bust(bust_parts(model, model.sample(torch.Generator().manual_seed(args.seed))))
    # Back to the renderer's frame (metres, +Y up), centred, at the size of a real head.
    vertices = bust.mesh.vertices @ PRINT_FROM_MODEL
    vertices = (vertices - (vertices.max(axis=0) + vertices.min(axis=0)) / 2) * 0.0028
    cameras = Cameras.named_views(["front", "three_quarter", "left"])
    images = render(torch.tensor(vertices, dtype=torch.float32)[None],
                    torch.tensor(np.asarray(bust.mesh.faces)), cameras, resolution=384).rgb
    contact_sheet(images).save(args.out)


if __name__ == "__main__":
    main()
