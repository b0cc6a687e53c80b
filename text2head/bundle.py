"""Write every output file of one head: meshes, parameters and a preview sheet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

from text2head.animation.request import AnimationRequest, head_clips, write_clip_files
from text2head.export import export_all
from text2head.heads import HeadModel, HeadParams
from text2head.instant import not_shown
from text2head.io import atomic_write, write_text_atomic
from text2head.preview import contact_sheet, preview_views, save_gif, turntable

CAPTION_HEIGHT = 24
TEXTURE_SIZE = 1024  # exported textures, a side in pixels
# Exported texture sides: powers of two (mipmapped everywhere, WebGL 1 included) up to 4096. An
# export's memory grows with the texture's area: `text2head random` peaked at 1.4 GB at 1024
# (14 s on 2 cores), 2.1 GB at 2048 (29 s) and 11 GB at 4096 (2.4 min); at 5000, which nothing
# refused before, 20 GB (3.1 min).
TEXTURE_SIZES = tuple(2**k for k in range(6, 13))


def check_texture_size(size: int) -> int:
    """`size` if an exported texture may have it, else ValueError naming the sizes allowed."""
    if isinstance(size, bool) or size not in TEXTURE_SIZES:
        raise ValueError(f"texture size must be a power of two from {TEXTURE_SIZES[0]} to "
                         f"{TEXTURE_SIZES[-1]}, got {size!r}")
    return size


def prepare_output_dir(path: str | Path) -> Path:
    """Create `path` if needed and check it is a writable folder, before any work starts."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".text2head-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"cannot write to output folder {out}: {error.strerror}") from None
    return out


def write_head(
    model: HeadModel, head: HeadParams, out_dir: str | Path, *,
    texture_size: int = TEXTURE_SIZE, preview: bool = True,
    animation: AnimationRequest | None = None,
) -> dict[str, Path]:
    """head.glb, head.obj (+ .mtl, .png), head.ply, params.json and preview.png in `out_dir`,
    textures `texture_size` (see TEXTURE_SIZES) on a side; with an `animation`, head.glb
    carries its clips, each previewed in animation-<clip>.webp (and the talk clip's visemes in
    visemes.json)."""
    check_texture_size(texture_size)
    out = prepare_output_dir(out_dir)
    clips = head_clips(model, head, animation) if animation is not None else []
    files = export_all(model.to_meshes(head, texture_size=texture_size), out, stem="head",
                       clips=clips)
    files.update(write_clip_files(model, head, clips, out))
    files["params"] = write_text_atomic(out / "params.json", model.to_json(head) + "\n")
    if preview:
        files["preview"] = out / "preview.png"
        with atomic_write(files["preview"]) as temporary:
            contact_sheet(preview_views(model, head)).save(temporary)
    return files


def write_run(model: HeadModel, result, out_dir: str | Path,
              animation: AnimationRequest | None = None,
              texture_size: int = TEXTURE_SIZE) -> dict[str, Path]:
    """Everything `write_head` writes for the best head, plus config.json (all that is needed
    to run it again), losses.csv (every term per step) and turntable.gif."""
    files = write_head(model, result.head, out_dir, animation=animation,
                       texture_size=texture_size)  # checks the size, then makes the folder
    out = Path(out_dir)
    config = result.config.to_dict()
    config.update(clip=result.clip_spec, clip_description=result.clip_description,
                  best_step=result.best_step, best_clip_score=result.clip_score,
                  steps_run=result.steps_run, styles=result.head.styles.to_dict(),
                  style_scores=result.style_scores, notices=list(result.notices))
    if result.candidates:
        config["candidates"] = result.candidates
    if result.understood is not None:
        config["understood"] = understood_dict(result.understood)
    files["config"] = write_text_atomic(
        out / "config.json", json.dumps(config, indent=1, ensure_ascii=False) + "\n"
    )
    files["losses"] = write_text_atomic(out / "losses.csv", losses_csv(result.history))
    files["turntable"] = out / "turntable.gif"
    with atomic_write(files["turntable"]) as temporary:
        save_gif(turntable(model, result.head), temporary)
    return files


def understood_dict(understood) -> dict:
    """What the prompt reader took from a prompt, for config.json."""
    return {"summary": understood.summary(),
            "attributes": [{"family": a.family, "name": a.name, "value": a.value,
                            "words": a.words} for a in understood.attributes],
            "not_shown": not_shown(understood)}


def write_instant(model: HeadModel, head: HeadParams, understood, out_dir: str | Path,
                  label: str, animation: AnimationRequest | None = None,
                  texture_size: int = TEXTURE_SIZE, **seeding) -> dict[str, Path]:
    """Everything `write_head` writes plus a config.json saying what was understood, the
    `seeding` (seed, variety) and that the head was not refined by CLIP."""
    files = write_head(model, head, out_dir, animation=animation,
                       texture_size=texture_size)  # checks the size, then makes the folder
    out = Path(out_dir)
    config = {"prompt": understood.prompt, "start": "instant", **seeding, "refined": False,
              "label": label, "styles": head.styles.to_dict(),
              "understood": understood_dict(understood)}
    files["config"] = write_text_atomic(
        out / "config.json", json.dumps(config, indent=1, ensure_ascii=False) + "\n")
    return files


def write_candidates(model: HeadModel, candidates, understood, out_dir: str | Path, label: str,
                     variety: float, texture_size: int = TEXTURE_SIZE) -> dict[str, Path]:
    """Each candidate as `write_instant` in `out_dir/seed-N/` (its config.json also lists
    all of them) and `candidates.png`: a row of front and three-quarter views each."""
    check_texture_size(texture_size)
    out = prepare_output_dir(out_dir)
    files: dict[str, Path] = {}
    listed = [candidate.to_dict() for candidate in candidates]
    for candidate in candidates:
        written = write_instant(model, candidate.head, understood, out / f"seed-{candidate.seed}",
                                label, texture_size=texture_size, seed=candidate.seed,
                                variety=variety, candidates=listed)
        files.update({f"{kind}-{candidate.seed}": path for kind, path in written.items()})
    files["candidates"] = out / "candidates.png"
    with atomic_write(files["candidates"]) as temporary:
        candidate_sheet(model, candidates).save(temporary)
    return files


def candidate_sheet(model: HeadModel, candidates, resolution: int = 192) -> Image.Image:
    """Front and three-quarter views of each candidate side by side, captioned with its seed
    (and CLIP score when ranked)."""
    tiles = []
    for candidate in candidates:
        views = contact_sheet(preview_views(model, candidate.head,
                                            views=("front", "three_quarter"),
                                            resolution=resolution))
        tile = Image.new("RGB", (views.width, views.height + CAPTION_HEIGHT), "white")
        tile.paste(views, (0, CAPTION_HEIGHT))
        score = "" if candidate.clip_score is None else f" · CLIP {candidate.clip_score:.1f}"
        ImageDraw.Draw(tile).text((6, 6), f"seed {candidate.seed}{score}", fill="black")
        tiles.append(tile)
    columns = min(len(tiles), 2)
    rows = -(-len(tiles) // columns)
    width, height = tiles[0].size
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % columns) * width, (index // columns) * height))
    return sheet


def losses_csv(history: list[dict[str, float]]) -> str:
    """One row per step, one column per loss term (terms switched on mid-run are blank before)."""
    columns = list(dict.fromkeys(name for losses in history for name in losses))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["step", *columns], lineterminator="\n")
    writer.writeheader()
    for step, losses in enumerate(history, start=1):
        writer.writerow({"step": step, **{k: f"{v:.6g}" for k, v in losses.items()}})
    return buffer.getvalue()
