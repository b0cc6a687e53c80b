"""The `text2head` command: a thin layer over the library."""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from text2head import api
from text2head.animation.clips import CLIP_NAMES
from text2head.animation.request import ALL, AnimationRequest
from text2head.animation.speech import MAX_SAY_CHARS
from text2head.bundle import (
    TEXTURE_SIZE,
    TEXTURE_SIZES,
    check_texture_size,
    prepare_output_dir,
    write_candidates,
    write_head,
)
from text2head.candidates import check_count
from text2head.devices import resolve_device
from text2head.guidance import CLIPWeightsUnavailable, PromptTruncatedWarning
from text2head.heads import HeadModel
from text2head.optimize import START_MODES, Optimization, RunConfig
from text2head.printing import PrintOptions, print_head
from text2head.seeds import check_seed
from text2head.styles import DEFAULT_CHOICES


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.simplefilter("always", UserWarning)
    warnings.showwarning = _show_warning
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, PermissionError, CLIPWeightsUnavailable) as error:
        print(f"text2head {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"text2head {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="text2head", description="Text prompt to textured, animatable 3D human head."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    random_head = commands.add_parser("random", help="sample a random head and export it")
    random_head.add_argument("--seed", type=_seed, default=0)
    _add_output_options(random_head)
    _add_animation_options(random_head)
    random_head.set_defaults(run=run_random)

    export = commands.add_parser("export", help="rebuild every output file from params.json")
    export.add_argument("params", type=Path, help="a params.json written by text2head")
    _add_output_options(export)
    _add_animation_options(export)
    export.add_argument("--seed", type=_seed, default=0, help="seed of the clips' blinks")
    export.add_argument("--print", action="store_true", dest="printable",
                        help="also write a 3D-printable bust: head_print.stl and head_print.3mf")
    export.add_argument("--height-mm", type=float, default=PrintOptions.height_mm,
                        help="bust height in millimetres, plinth included (default 100)")
    export.add_argument("--voxel-mm", type=float, default=None,
                        help="print detail in millimetres: smaller is finer and slower "
                             "(default: height / 200, i.e. 0.5 at 100 mm)")
    export.set_defaults(run=run_export)

    generate = commands.add_parser("generate", help="optimize a head for a text prompt")
    prompts = generate.add_mutually_exclusive_group(required=True)
    prompts.add_argument("prompt", nargs="?", help="what the head should look like")
    prompts.add_argument("--prompts", type=Path,
                         help="a text file with one prompt per line (one folder per prompt)")
    _add_run_options(generate)
    generate.add_argument("--start", choices=START_MODES, default="instant",
                          help="instant: begin from the head the prompt describes (default); "
                          "neutral: from the neutral head")
    generate.add_argument("--instant", action="store_true",
                          help="only the instant head from the prompt reader: no CLIP, no "
                          "optimization (works offline)")
    generate.add_argument("--variety", type=float, default=1.0,
                          help="how far the seed decides what the prompt leaves open: 0 keeps "
                          "the neutral head's face, skin and hair, 1 (default) is the seed's")
    generate.add_argument("--candidates", type=int, default=1, metavar="N",
                          help="make N instant heads (seeds SEED ... SEED+N-1) and a contact "
                          "sheet in OUT/candidates; unless --instant, CLIP ranks them and the "
                          "best is refined into OUT")
    _add_animation_options(generate)
    generate.set_defaults(run=run_generate)

    animate = commands.add_parser(
        "animate", help="write an animated GLB of a saved head, with previews and visemes")
    animate.add_argument("params", type=Path, help="a params.json written by text2head")
    _add_output_options(animate)
    _add_animation_options(animate, "--clip")
    animate.add_argument("--seed", type=_seed, default=0, help="seed of the clips' blinks")
    animate.set_defaults(run=run_animate)

    edit = commands.add_parser("edit", help="change a saved head by an instruction")
    edit.add_argument("params", type=Path, help="a params.json written by text2head")
    edit.add_argument("prompt", help='the change, e.g. "make him smile"')
    edit.add_argument("--identity-weight", type=float, default=api.EDIT_WEIGHTS[
        "identity_preservation"], help="how strongly to stay close to the starting head")
    _add_run_options(edit)
    edit.set_defaults(run=run_edit)
    return parser


def _add_animation_options(parser: argparse.ArgumentParser, flag: str = "--animate") -> None:
    """`animate` takes --clip; the commands that also make heads take --animate, since
    their --clip names the CLIP model."""
    parser.add_argument(flag, action="append", default=[], choices=(*CLIP_NAMES, ALL),
                        dest="clips", metavar="CLIP",
                        help="animate head.glb with this clip: idle, expression, talk or all "
                             "(repeatable; the first is the one viewers autoplay) and write "
                             "its preview animation-CLIP.webp")
    parser.add_argument("--say", help=f"the line the talk clip says (at most {MAX_SAY_CHARS} "
                                      "characters)")


def _animation(args: argparse.Namespace, default: tuple[str, ...] = ()) -> AnimationRequest | None:
    """The clips asked for (checked before any work), or None for a still head."""
    clips = tuple(args.clips) or default
    if not clips:
        if args.say is not None:
            raise ValueError("--say is the talk clip's line: add the talk clip")
        return None
    return AnimationRequest(clips, args.say, args.seed)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_style_option(parser)
    parser.add_argument("--negative", help="what the head should not look like")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--views", type=int, default=2, help="rendered views per step")
    parser.add_argument("--augmentations", type=int, default=2,
                        help="augmented crops of each view scored by CLIP")
    parser.add_argument("--view-prompts", action="store_true",
                        help='phrase the prompt by view ("side view of ...")')
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument("--clip", help="ARCH:PRETRAINED_TAG, ARCH:/path/to/checkpoint or "
                        "random:ARCH (tests only); default: $TEXT2HEAD_CLIP or "
                        "ViT-B-32:laion2b_s34b_b79k")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, or auto (cuda when available; the default)")
    parser.add_argument("--weight", action="append", default=[], metavar="NAME=VALUE",
                        help="set a loss weight, e.g. --weight prior_identity=0.1")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    _add_texture_size_option(parser)


def _add_style_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--style", action="append", default=[], metavar="PART=STYLE",
                        help="fix a part's style, e.g. hair=long01, facial_hair=full_beard, "
                        "eyebrows=none (parts: hair, eyebrows, eyelashes, teeth, facial_hair)")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    _add_style_option(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    _add_texture_size_option(parser)


def _add_texture_size_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texture-size", type=_texture_size, default=TEXTURE_SIZE,
                        help=f"side of the exported textures: a power of two from "
                        f"{TEXTURE_SIZES[0]} to {TEXTURE_SIZES[-1]} (default {TEXTURE_SIZE})")


def _texture_size(text: str) -> int:
    """--texture-size's value, refused by argparse (before any work) when out of range."""
    return _checked_whole_number(text, check_texture_size)


def _seed(text: str) -> int:
    """--seed's value, refused by argparse (before any work) when out of range."""
    return _checked_whole_number(text, check_seed)


def _checked_whole_number(text: str, check: Callable[[int], int]) -> int:
    """A whole number passed by `check`, or argparse's error with the check's words."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    try:
        return check(number)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_random(args: argparse.Namespace) -> None:
    animation = _animation(args)
    model = HeadModel()
    head = model.sample(torch.Generator().manual_seed(args.seed))
    head = _with_styles(model, head, args.style)
    out = prepare_output_dir(args.out)
    _report(write_head(model, head, out, texture_size=args.texture_size, animation=animation))


def run_animate(args: argparse.Namespace) -> None:
    animation = _animation(args, default=("idle",))
    model = HeadModel()
    head = _with_styles(model, api.load_params(model, args.params), args.style)
    _report(api.animate(head, animation, args.out, model=model, texture_size=args.texture_size))


def run_export(args: argparse.Namespace) -> None:
    options = _print_options(args) if args.printable else None  # checked before any writing
    animation = _animation(args)
    model = HeadModel()
    head = _with_styles(model, api.load_params(model, args.params), args.style)
    out = prepare_output_dir(args.out)
    files = write_head(model, head, out, texture_size=args.texture_size, animation=animation)
    if options is not None:
        files.update(print_head(model, head, out, options))
    _report(files)


def _print_options(args: argparse.Namespace) -> PrintOptions:
    try:
        return PrintOptions(height_mm=args.height_mm, voxel_mm=args.voxel_mm)
    except ValueError as error:
        raise ValueError(f"--print: {error}") from None


def run_generate(args: argparse.Namespace) -> None:
    check_count(args.candidates)
    args.animation = _animation(args)
    if args.animation is not None and args.instant and args.candidates > 1:
        raise ValueError("--animate animates one head: with --instant --candidates N, animate the "
                         "candidate you like with `text2head animate DIR/seed-K/params.json`")
    make = _instant if args.instant else _optimize
    if args.prompts is None:
        make(args, args.prompt, args.out)
        return
    prompts = api.read_prompts(args.prompts)
    prepare_output_dir(args.out)
    for index, prompt in enumerate(prompts, start=1):
        make(args, prompt, args.out / f"{index:03d}-{_slug(prompt)}")


def _instant(args, prompt: str, out: Path) -> None:
    if args.style:
        raise ValueError("--style cannot be combined with --instant: the prompt sets the styles")
    if args.candidates > 1:
        found, understood, files = api.candidates(prompt, count=args.candidates, seed=args.seed,
                                                  variety=args.variety, out=out,
                                                  texture_size=args.texture_size)
    else:
        _, understood, files = api.instant(prompt, out=out, seed=args.seed, variety=args.variety,
                                           animation=args.animation,
                                           texture_size=args.texture_size)
    print(f"{prompt!r}  understood: {understood.summary() or 'nothing'}  "
          f"({api.INSTANT_LABEL})", file=sys.stderr)
    _report(files)


def run_edit(args: argparse.Namespace) -> None:
    model = HeadModel()
    start = _with_styles(model, api.load_params(model, args.params), args.style)
    weights = {**api.EDIT_WEIGHTS, "identity_preservation": args.identity_weight}
    _optimize(args, args.prompt, args.out, start=start, model=model, extra_weights=weights)


def _optimize(args, prompt: str, out: Path, *, start=None, model=None, extra_weights=None):
    fixed = _parse_styles(args.style)
    options = dict(negative=args.negative, steps=args.steps, views=args.views, seed=args.seed,
                   variety=getattr(args, "variety", 1.0), augmentations=args.augmentations,
                   view_prompts=args.view_prompts,
                   weights={**(extra_weights or {}), **_parse_weights(args.weight)},
                   # Styles the command line fixes are kept; CLIP chooses the others.
                   choose_styles=tuple(kind for kind in DEFAULT_CHOICES if kind not in fixed))
    RunConfig(prompt=prompt, **options)  # every option checked before any work
    device = resolve_device(args.device)
    clip, found = args.clip, []
    if start is None and getattr(args, "candidates", 1) > 1:  # generate: refine the best
        clip = api.load_guide(clip, device)
        model = (model or HeadModel()).to(device)
        found, understood, _ = api.candidates(prompt, count=args.candidates, seed=args.seed,
                                              variety=options["variety"], rank_with=clip,
                                              model=model, device=device)
        start = _with_styles(model, found[0].head, args.style)
        options.update(seed=found[0].seed, choose_styles=())  # chosen with its styles
    elif start is None:  # generate: begin from the instant (or neutral) head
        start = args.start
        if fixed:
            model = model or HeadModel()
            begin = (api.instant(prompt, model=model, seed=args.seed,
                                 variety=options["variety"])[0]
                     if start == "instant" else model.neutral())
            start = _with_styles(model, begin, args.style)
    with warnings.catch_warnings():
        # The run's notices say it once per run; the warning comes only on a first encoding.
        warnings.simplefilter("ignore", PromptTruncatedWarning)
        run = api.prepare(prompt, clip=clip, device=device, start=start, model=model, out=out,
                          **options)
        if found:  # written once the run's options are known to be good
            _report(write_candidates(model, found, understood, out / "candidates",
                                     api.INSTANT_LABEL, options["variety"], args.texture_size))
        print(f"{prompt!r}  guide: {run.guide.description}", file=sys.stderr)
        print(f"understood: {run.understood.summary() or 'nothing'}", file=sys.stderr)
        for notice in run.notices:
            print(f"note: {notice}", file=sys.stderr)
        history = _iterate_with_progress(run)
    result = api.finish(run, history, out, candidates=found,
                        animation=getattr(args, "animation", None),
                        texture_size=args.texture_size)
    print(f"best CLIP score {result.clip_score:.2f} at step {result.best_step}", file=sys.stderr)
    _report(result.files)


def _iterate_with_progress(run: Optimization) -> list[dict[str, float]]:
    history = []
    with tqdm(total=run.config.steps, unit="step", file=sys.stderr) as bar:
        for step in run:
            history.append(step.losses)
            status = {"loss": f"{step.losses['total']:.4f}"}
            if step.clip_score is not None:
                status["clip"] = f"{step.clip_score:.2f}"
            if step.skipped:
                status["skipped"] = "NaN"
            bar.set_postfix(status)
            bar.update()
    return history


def _parse_styles(items: list[str]) -> dict[str, str]:
    styles = {}
    for item in items:
        kind, sep, name = item.partition("=")
        if not sep or not kind.strip() or not name.strip():
            raise ValueError(f"--style expects PART=STYLE (e.g. hair=long01), got {item!r}")
        styles[kind.strip()] = name.strip()
    return styles


def _with_styles(model: HeadModel, head, items: list[str]):
    """`head` with the --style choices; an unknown part or style names the known ones."""
    styles = _parse_styles(items)
    unknown = set(styles) - set(model.known_styles)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)} in --style; known: "
                         f"{', '.join(model.known_styles)}")
    head = head.with_styles(**styles)
    model.validate(head)
    return head


def _parse_weights(items: list[str]) -> dict[str, float]:
    weights = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--weight expects NAME=NUMBER, got {item!r}")
    return weights


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-")
    return slug[:limit] or "prompt"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _report(files: dict[str, Path]) -> None:
    for kind, path in files.items():
        print(f"{kind:8s} {path}")


if __name__ == "__main__":
    sys.exit(main())
