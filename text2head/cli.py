"""The `text2head` command: a thin layer over the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from text2head.bundle import prepare_output_dir, write_head
from text2head.heads import HeadModel


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, PermissionError) as error:
        print(f"text2head {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="text2head", description="Text prompt to textured, animatable 3D human head."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    random_head = commands.add_parser("random", help="sample a random head and export it")
    random_head.add_argument("--seed", type=int, default=0)
    _add_output_options(random_head)
    random_head.set_defaults(run=run_random)

    export = commands.add_parser("export", help="rebuild every output file from params.json")
    export.add_argument("params", type=Path, help="a params.json written by text2head")
    _add_output_options(export)
    export.set_defaults(run=run_export)
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--texture-size", type=int, default=1024,
                        help="exported texture resolution (default 1024)")


def run_random(args: argparse.Namespace) -> None:
    out = prepare_output_dir(args.out)
    model = HeadModel()
    head = model.sample(torch.Generator().manual_seed(args.seed))
    _report(write_head(model, head, out, texture_size=args.texture_size))


def run_export(args: argparse.Namespace) -> None:
    out = prepare_output_dir(args.out)
    if not args.params.is_file():
        raise FileNotFoundError(f"parameter file not found: {args.params}")
    model = HeadModel()
    head = model.from_json(args.params.read_text(encoding="utf-8"))
    _report(write_head(model, head, out, texture_size=args.texture_size))


def _report(files: dict[str, Path]) -> None:
    for kind, path in files.items():
        print(f"{kind:8s} {path}")


if __name__ == "__main__":
    sys.exit(main())
