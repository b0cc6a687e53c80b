"""Render README's contact sheet of the instant heads for the app's example prompts:
`python scripts/instant_sheet.py` (no CLIP needed)."""

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

CAPTION = 36


def main(out: str = "assets/instant.png") -> None:
    model = HeadModel()
    rows = []
    for prompt, _ in EXAMPLES:
        understood = understand(prompt)
        with torch.no_grad():
            views = contact_sheet(preview_views(model, instant_head(model, understood),
                                                views=("front", "three_quarter", "left"),
                                                resolution=200))
        row = Image.new("RGB", (views.width, views.height + CAPTION), "white")
        row.paste(views, (0, CAPTION))
        text = f'"{prompt}"  ->  {understood.summary() or "nothing understood"}'
        ImageDraw.Draw(row).text((8, 10), text, fill="black")
        rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    for i, row in enumerate(rows):
        sheet.paste(row, (0, i * row.height))
    sheet.save(Path(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
