"""Two-line Python API: `text2head.generate(prompt)` and `text2head.edit(params, instruction)`.

`prepare` builds a run (validating every input before any work starts) and `finish` writes
its results; the CLI and the web app use the same two functions around their own loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from text2head.animation.request import AnimationRequest, head_clips, write_clip_files
from text2head.bundle import (
    TEXTURE_SIZE,
    check_texture_size,
    prepare_output_dir,
    write_candidates,
    write_instant,
    write_run,
)
from text2head.candidates import DEFAULT_COUNT, Candidate, check_count, rank
from text2head.candidates import candidates as make_candidates
from text2head.devices import resolve_device
from text2head.export import export_glb
from text2head.guidance import CLIPGuide, load_clip
from text2head.heads import HeadModel, HeadParams
from text2head.instant import instant_head
from text2head.optimize import SCORE_VIEWS, BestHead, Optimization, RunConfig
from text2head.seeds import check_seed
from text2head.understand import Understanding, understand

EDIT_WEIGHTS = {"identity_preservation": 1.0, "directional": 0.5}


@dataclass
class Result:
    """The outcome of a run: the best head, its score, the loss history and written files."""

    head: HeadParams
    clip_score: float
    best_step: int
    steps_run: int
    history: list[dict[str, float]]
    config: RunConfig
    clip_spec: str  # how to load the guide again (see text2head.guidance.load_clip)
    clip_description: str  # says "RANDOM WEIGHTS" when the guide was a test fixture
    # CLIP's choice: kind -> style -> view -> score, for the views each style was seen from
    style_scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    understood: Understanding | None = None  # what the prompt reader took from the prompt
    notices: tuple[str, ...] = ()  # sentences for the person, e.g. the prompt was cut
    candidates: list[dict] = field(default_factory=list)  # seeds and scores it started from
    files: dict[str, Path] = field(default_factory=dict)


def load_guide(clip: str | CLIPGuide | None, device: str | torch.device) -> CLIPGuide:
    """A CLIPGuide from a spec ("ARCH:TAG", "ARCH:/path", "random:ARCH"; None reads
    TEXT2HEAD_CLIP) or an existing guide."""
    if isinstance(clip, CLIPGuide):
        return clip
    return CLIPGuide(load_clip(clip, device))


def prepare(
    prompt: str,
    *,
    clip: str | CLIPGuide | None = None,
    device: str | torch.device = "cpu",
    start: HeadParams | str = "instant",
    model: HeadModel | None = None,
    out: str | Path | None = None,
    **options,
) -> Optimization:
    """Check every input, load the models and return a run ready to iterate.

    `start` is a head to begin from, or "instant" (the head the prompt describes, see
    `text2head.instant`) or "neutral". `options` are `RunConfig` fields (negative, steps,
    views, seed, weights, ...).
    """
    if isinstance(start, str):
        options["start"], start = start, None
    config = RunConfig(prompt=prompt, **options)
    device = resolve_device(device)
    if out is not None:
        prepare_output_dir(out)
    model = (model or HeadModel()).to(device)
    guide = load_guide(clip, device)
    # Encode the prompts now: a too-long prompt warns before the first step, not during it.
    guide.encode_text([p for p in (config.prompt, config.negative) if p])
    return Optimization(model, guide, config, start=start)


def finish(run: Optimization, history: list[dict[str, float]],
           out: str | Path | None = None, candidates: Sequence[Candidate] = (),
           animation: AnimationRequest | None = None,
           texture_size: int = TEXTURE_SIZE) -> Result:
    """The best head of a finished (or stopped) run, written to `out` when given (its GLB
    animated by `animation`, textures `texture_size` on a side); the `candidates` it was
    chosen from go into config.json."""
    best = run.best or BestHead(run.head.detach(), float("nan"), len(history))
    result = Result(
        head=best.head, clip_score=best.clip_score, best_step=best.step,
        steps_run=len(history), history=history, config=run.config,
        clip_spec=" + ".join(model.spec for model, _ in run.guide.models),
        clip_description=run.guide.description, style_scores=run.style_scores,
        understood=run.understood, notices=run.notices,
        candidates=[candidate.to_dict() for candidate in candidates],
    )
    if out is not None:
        result.files = write_run(run.model, result, out, animation, texture_size)
    return result


def generate(prompt: str, *, out: str | Path | None = None,
             export_texture_size: int = TEXTURE_SIZE, **options) -> Result:
    """Optimize a head for `prompt` and write it to `out` when given, with textures
    `export_texture_size` on a side; see `prepare` for the options (`texture_size` among
    them is the texture the run itself optimizes, 256 by default)."""
    check_texture_size(export_texture_size)
    run = prepare(prompt, out=out, **options)
    history = [step.losses for step in run]
    return finish(run, history, out, texture_size=export_texture_size)


def edit(params: str | Path | HeadParams, instruction: str, *,
         out: str | Path | None = None, model: HeadModel | None = None, **options) -> Result:
    """Change a saved head by an instruction ("make him smile"), staying close to it."""
    model = model or HeadModel()
    start = params if isinstance(params, HeadParams) else load_params(model, params)
    options["weights"] = {**EDIT_WEIGHTS, **options.get("weights", {})}
    return generate(instruction, start=start, model=model, out=out, **options)


INSTANT_LABEL = "instant — not refined by CLIP"


def instant(prompt: str, *, model: HeadModel | None = None, out: str | Path | None = None,
            seed: int = 0, variety: float = 1.0, animation: AnimationRequest | None = None,
            texture_size: int = TEXTURE_SIZE,
            ) -> tuple[HeadParams, Understanding, dict[str, Path]]:
    """The head the prompt reader makes of `prompt` with `seed` deciding what it leaves open
    (see `text2head.variety`), without CLIP (works offline), written to `out` when given
    (labelled "instant — not refined by CLIP" in config.json, textures `texture_size` on a
    side)."""
    RunConfig(prompt=prompt, seed=seed, variety=variety)  # the same checks as a run
    check_texture_size(texture_size)
    model = model or HeadModel()
    understood = understand(prompt)
    head = instant_head(model, understood, seed=seed, variety=variety)
    files = {}
    if out is not None:
        files = write_instant(model, head, understood, out, INSTANT_LABEL, animation,
                              texture_size, seed=seed, variety=variety)
    return head, understood, files


def candidates(prompt: str, *, count: int = DEFAULT_COUNT, seed: int = 0, variety: float = 1.0,
               rank_with: str | CLIPGuide | None = None, device: str | torch.device = "cpu",
               model: HeadModel | None = None, out: str | Path | None = None,
               texture_size: int = TEXTURE_SIZE,
               ) -> tuple[list[Candidate], Understanding, dict[str, Path]]:
    """The instant heads of seeds `seed` ... `seed + count - 1`; ranked best first by CLIP
    when `rank_with` names a guide (see `load_guide`), in seed order otherwise. With `out`,
    each is written to `out/seed-N/` (textures `texture_size` on a side) and a contact sheet
    to `out/candidates.png`."""
    RunConfig(prompt=prompt, seed=seed, variety=variety)
    check_count(count)
    check_seed(seed, count)  # before a model loads (make_candidates checks it too)
    check_texture_size(texture_size)
    device = resolve_device(device)
    model = (model or HeadModel()).to(device)
    understood = understand(prompt)
    found = make_candidates(model, understood, seed, count, variety)
    if rank_with is not None:
        found = rank(model, load_guide(rank_with, device), found, prompt, SCORE_VIEWS)
    files = {}
    if out is not None:
        files = write_candidates(model, found, understood, out, INSTANT_LABEL, variety,
                                 texture_size)
    return found, understood, files


def animate(params: str | Path | HeadParams, animation: AnimationRequest, out: str | Path, *,
            model: HeadModel | None = None, texture_size: int = TEXTURE_SIZE) -> dict[str, Path]:
    """Write `out/head.glb` with the requested clips as glTF animations (the first is the one
    viewers autoplay), `out/animation-<clip>.webp` previews and, when the head talks,
    `out/visemes.json` (see `text2head.animation.speech`)."""
    check_texture_size(texture_size)
    model = model or HeadModel()
    head = params if isinstance(params, HeadParams) else load_params(model, params)
    model.validate(head)
    clips = head_clips(model, head, animation)  # a clip that cannot be made: no folder
    out = prepare_output_dir(out)
    meshes = model.to_meshes(head, texture_size=texture_size)
    files = {"glb": export_glb(meshes, out / "head.glb", clips)}
    files.update(write_clip_files(model, head, clips, out))
    return files


def read_prompts(path: str | Path) -> list[str]:
    """Prompts of a text file: one per line, blank lines and lines starting with # skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise ValueError(f"prompt file {path} has no prompts")
    return prompts


def load_params(model: HeadModel, path: str | Path) -> HeadParams:
    """The head in a params.json (see `HeadModel.read_params`: ValueError naming the file and
    the problem, FileNotFoundError when it is missing)."""
    return model.read_params(path)

