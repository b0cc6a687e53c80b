"""Write every output file of one head: meshes, parameters and a preview sheet."""

from __future__ import annotations

from pathlib import Path

from text2head.export import export_all
from text2head.heads import HeadModel, HeadParams
from text2head.io import atomic_write, write_text_atomic
from text2head.preview import contact_sheet, preview_views


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
    model: HeadModel, head: HeadParams, out_dir: str | Path, *, texture_size: int = 1024,
    preview: bool = True,
) -> dict[str, Path]:
    """head.glb, head.obj (+ .mtl, .png), head.ply, params.json and preview.png in `out_dir`."""
    out = prepare_output_dir(out_dir)
    files = export_all(model.to_mesh(head, texture_size=texture_size), out, stem="head")
    files["params"] = write_text_atomic(out / "params.json", model.to_json(head) + "\n")
    if preview:
        files["preview"] = out / "preview.png"
        with atomic_write(files["preview"]) as temporary:
            contact_sheet(preview_views(model, head)).save(temporary)
    return files
