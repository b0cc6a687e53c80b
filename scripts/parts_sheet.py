"""Render README's picture of hair styles and facial hair: `python scripts/parts_sheet.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from text2head.heads import HeadModel
from text2head.preview import contact_sheet, preview_views

ROWS = (  # (hair, facial hair, hair parameters, gender)
    ("short02", "full_beard", {"hair_eumelanin": 0.9, "beard_length": 0.8}, 0.1),
    ("long01", "none", {"hair_eumelanin": 0.15, "hair_pheomelanin": 0.3}, 0.9),
    ("afro01", "goatee", {"hair_eumelanin": 1.0}, 0.2),
    ("ponytail01", "none", {"hair_eumelanin": 0.3, "hair_pheomelanin": 0.95}, 0.8),
    ("bob01", "none", {"hair_eumelanin": 0.6}, 0.7),
    ("short04", "moustache", {"hair_grey": 0.9}, 0.2),
    ("none", "stubble", {"beard_density": 1.0}, 0.0),
    ("buzz", "none", {"hair_eumelanin": 0.8, "scalp_density": 0.9}, 0.3),
)


def main(out: str = "assets/parts.png") -> None:
    model = HeadModel()
    rows = []
    for hair, beard, values, gender in ROWS:
        head = model.neutral().with_styles(hair=hair, facial_hair=beard)
        head.identity[0, model.specs["identity"].index("gender")] = gender
        for name, value in values.items():
            head.hair[0, model.specs["hair"].index(name)] = value
        with torch.no_grad():
            rows.append(contact_sheet(preview_views(model, head, views=(
                "front", "three_quarter", "left"), resolution=200)))
    sheet = Image.new("RGB", (rows[0].width, rows[0].height * len(rows)), "white")
    for i, row in enumerate(rows):
        sheet.paste(row, (0, i * row.height))
    sheet.save(Path(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
