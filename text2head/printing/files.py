"""Write a bust as binary STL and 3MF (millimetres), atomically.

STL is what every slicer reads; 3MF says its unit (millimetre) in the file, so a slicer never
has to guess the scale. Both are written by trimesh (3MF needs lxml).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from text2head.io import PathLike, atomic_paths
from text2head.printing.bust import Bust

FORMATS = ("stl", "3mf")


def write_bust(bust: Bust, out_dir: PathLike, stem: str = "head_print",
               formats: Sequence[str] = FORMATS) -> dict[str, Path]:
    """Write `<stem>.stl` and/or `<stem>.3mf` into the existing folder `out_dir`; returns the
    paths keyed by format. Files appear together or not at all."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"print formats must be among {FORMATS}, got {list(formats)}")
    if not stem or Path(stem).name != stem:
        raise ValueError(f"stem must be a plain file name without folders, got {stem!r}")
    paths = {kind: Path(out_dir) / f"{stem}.{kind}" for kind in dict.fromkeys(formats)}
    contents = {kind: bust.mesh.export(file_type=kind) for kind in paths}
    with atomic_paths(list(paths.values())) as temporaries:
        for kind, temporary in zip(paths, temporaries, strict=True):
            temporary.write_bytes(contents[kind])
    return paths
