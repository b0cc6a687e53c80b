"""Render the realism contact sheet: 8 random heads (seeds 0-7) and the instant heads of the
app's 5 example prompts, front / three-quarter / left at 256 px each.

    python scripts/realism_sheet.py OUT.png [--rows 3,9] [--beside OTHER.png]

Run it on two commits (e.g. in a `git worktree` of the older one) to compare the look before
and after a change at the same seeds; `--rows` keeps some rows only, `--beside` puts a sheet
rendered elsewhere to the left of this one with "before" / "after" captions. No CLIP needed.
"""

from __future__ import annotations

import argparse
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


def captioned(image: Image.Image, caption: str) -> Image.Image:
    """The image under a line of black text on white."""
    out = Image.new("RGB", (image.width, image.height + CAPTION), "white")
    out.paste(image, (0, CAPTION))
    ImageDraw.Draw(out).text((6, 3), caption, fill="black")
    return out


def sheet(rows: list[Image.Image], columns: int) -> Image.Image:
    """Rows laid out in `columns` columns, filled row by row."""
    width, height = rows[0].size
    out = Image.new("RGB", (width * columns, height * -(-len(rows) // columns)), "white")
    for i, row in enumerate(rows):
        out.paste(row, ((i % columns) * width, (i // columns) * height))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", help="comma-separated row numbers to keep (0-12)")
    parser.add_argument("--beside", type=Path, help="a sheet to put on the left, as 'before'")
    args = parser.parse_args()
    keep = None if args.rows is None else {int(row) for row in args.rows.split(",")}
    model = HeadModel()
    rows = []
    for index, (caption, head) in enumerate(heads(model)):
        if keep is not None and index not in keep:
            continue
        with torch.no_grad():
            views = contact_sheet(preview_views(model, head, views=VIEWS, resolution=SIZE))
        rows.append(captioned(views, caption))
    result = sheet(rows, columns=1 if keep is not None else 2)
    if args.beside is not None:
        result = sheet([captioned(Image.open(args.beside).convert("RGB"), "before"),
                        captioned(result, "after")], columns=2)
    result.save(args.out)


if __name__ == "__main__":
    main()
