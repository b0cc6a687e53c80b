"""Render the realism contact sheet: 8 random heads (seeds 0-7) and the instant heads of the
app's 5 example prompts, front / three-quarter / left at 256 px each.

`python scripts/realism_sheet.py OUT.png` (no CLIP needed). Run it on two commits to compare
the look before and after a change at the same seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from text2head.heads import HeadModel
from text2head.instant import instant_head
from text2head.preview import contact_sheet, preview_views
from text2head.understand import understand

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import EXAMPLES  # noqa: E402

SEEDS = range(8)
VIEWS = ("front", "three_quarter", "left")
SIZE = 256
CAPTION = 18


def heads(model: HeadModel):
    """(caption, head) for every row of the sheet."""
    for seed in SEEDS:
        yield f"random seed {seed}", model.sample(torch.Generator().manual_seed(seed))
    for prompt, _ in EXAMPLES:
        yield f'"{prompt}"', instant_head(model, understand(prompt))


def main(out: str) -> None:
    model = HeadModel()
    rows = []
    for caption, head in heads(model):
        with torch.no_grad():
            views = contact_sheet(preview_views(model, head, views=VIEWS, resolution=SIZE))
        row = Image.new("RGB", (views.width, views.height + CAPTION), "white")
        row.paste(views, (0, CAPTION))
        ImageDraw.Draw(row).text((6, 3), caption, fill="black")
        rows.append(row)
    columns = 2
    height = rows[0].height
    sheet = Image.new("RGB", (rows[0].width * columns, height * -(-len(rows) // columns)),
                      "white")
    for i, row in enumerate(rows):
        sheet.paste(row, ((i % columns) * row.width, (i // columns) * height))
    sheet.save(Path(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
