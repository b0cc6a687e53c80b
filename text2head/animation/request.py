"""What a person asks to animate (clips, a line to say, a seed), checked before any work, and
the files that go beside an animated GLB: a preview per clip and the talk clip's visemes."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from text2head.animation.clip import Clip
from text2head.animation.clips import CLIP_NAMES, make_clip
from text2head.animation.preview import save_preview
from text2head.animation.speech import check_line
from text2head.heads import HeadModel, HeadParams
from text2head.io import write_text_atomic

ALL = "all"


@dataclass(frozen=True)
class AnimationRequest:
    """Clips in the order they go into the GLB (viewers that autoplay start the first); `line`
    is what the talk clip says; `seed` makes blinks and glances differ between heads."""

    clips: tuple[str, ...]
    line: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        clips = CLIP_NAMES if ALL in self.clips else tuple(self.clips)
        unknown = [name for name in clips if name not in CLIP_NAMES]
        if not clips or unknown:
            raise ValueError(f"unknown clip(s) {unknown or 'none given'}; known clips: "
                             f"{', '.join(CLIP_NAMES)} (or {ALL})")
        if len(set(clips)) != len(clips):
            raise ValueError(f"each clip can be asked for once, got {list(clips)}")
        if "talk" in clips and self.line is None:
            raise ValueError("the talk clip needs a line to say (--say)")
        if "talk" not in clips and self.line is not None:
            raise ValueError("a line to say is only used by the talk clip: add the talk clip")
        object.__setattr__(self, "clips", clips)
        if self.line is not None:
            object.__setattr__(self, "line", check_line(self.line))


def head_clips(model: HeadModel, head: HeadParams, request: AnimationRequest) -> list[Clip]:
    """The requested clips of the first head. A head without an expression has nothing for
    the expression clip to perform: that clip is left out with a warning (the rest of a
    finished run's files still get written); when it was the only clip, that is an error."""
    targets = tuple(model.specs["expression"].names)
    base = head.expression[0].detach().cpu().double().numpy()
    clips, refusals = [], []
    for name in request.clips:
        try:
            clips.append(make_clip(name, targets, base, line=request.line, seed=request.seed))
        except ValueError as error:
            if name != "expression":
                raise
            refusals.append(str(error))
    if not clips:
        raise ValueError(refusals[0])
    for refusal in refusals:
        warnings.warn(f"expression clip left out: {refusal}", UserWarning, stacklevel=2)
    return clips


def write_clip_files(model: HeadModel, head: HeadParams, clips: list[Clip],
                     out: Path) -> dict[str, Path]:
    """`animation-<clip>.webp` per clip and, for a talk clip, `visemes.json`."""
    files = {}
    for clip in clips:
        files[f"anim_{clip.name}"] = path = out / f"animation-{clip.name}.webp"
        save_preview(model, head, clip, path)
        if clip.visemes is not None:
            files["visemes"] = write_text_atomic(
                out / "visemes.json", json.dumps(clip.visemes, indent=1, ensure_ascii=False)
                + "\n")
    return files
