"""Load a frozen open_clip model from a one-line spec.

Spec forms (also the value of the ``TEXT2HEAD_CLIP`` environment variable):

* ``ARCH:PRETRAINED_TAG``, e.g. ``ViT-B-32:laion2b_s34b_b79k`` (the default): open_clip fetches the
  weights once into the Hugging Face cache; later runs work offline from that cache.
* ``ARCH:/path/to/checkpoint.safetensors`` (or ``.bin``/``.pt``/``.pth``): an open_clip state
  dict for architecture ARCH. The preprocessing is the architecture's default (OpenAI mean/std).
* ``/path/to/folder``: a folder holding ``open_clip_config.json`` plus weights, e.g. a Hugging
  Face snapshot folder; the architecture and preprocessing come from that config. A bare file path
  is refused: the architecture of a lone state dict cannot be inferred reliably.
* ``random:ARCH``: random weights, for tests and speed benchmarks only. ``random:tiny`` is a
  2-layer model registered by text2head for fast CPU tests.

Weights are read only as safetensors or with ``torch.load(weights_only=True)``, so a checkpoint
cannot run code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import open_clip
import torch

from .model import CLIPModel
from .preprocess import PreprocessConfig
from .tower import use_fast_layouts

DEFAULT_CLIP_SPEC = "ViT-B-32:laion2b_s34b_b79k"
CLIP_ENV_VAR = "TEXT2HEAD_CLIP"
TINY_ARCH = "tiny"
CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
RANDOM_LABEL = "RANDOM WEIGHTS — for tests and speed benchmarks only"
SPEC_FORMS = (
    "ARCH:PRETRAINED_TAG (e.g. ViT-B-32:laion2b_s34b_b79k, fetched into the Hugging Face cache)",
    "ARCH:/path/to/checkpoint.safetensors (or .bin/.pt/.pth, an open_clip state dict)",
    "/path/to/folder (open_clip_config.json + weights, e.g. a Hugging Face snapshot folder)",
    f"random:ARCH (e.g. random:{TINY_ARCH}; {RANDOM_LABEL})",
)

open_clip.add_model_config(Path(__file__).with_name("model_configs") / f"{TINY_ARCH}.json")


class CLIPWeightsUnavailable(RuntimeError):
    """CLIP weights could not be obtained (offline, missing, corrupt or unsafe checkpoint)."""


@dataclass(frozen=True)
class CLIPSpec:
    """A parsed spec; ``source`` is the pretrained tag or the path, ``arch`` None for folders."""

    kind: Literal["pretrained", "file", "folder", "random"]
    arch: str | None
    source: str | None

    def __str__(self) -> str:
        if self.kind == "random":
            return f"random:{self.arch}"
        if self.kind == "folder":
            return str(self.source)
        return f"{self.arch}:{self.source}"


def default_clip_spec() -> str:
    """The spec from ``TEXT2HEAD_CLIP``, else the default ViT-B-32 LAION-2B model."""
    return os.environ.get(CLIP_ENV_VAR, "").strip() or DEFAULT_CLIP_SPEC


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", ".", "\\")) or re.match(r"^[A-Za-z]:[\\/]", text) is not None


def _spec_error(spec: str, reason: str) -> ValueError:
    forms = "\n".join(f"  - {form}" for form in SPEC_FORMS)
    return ValueError(f"Invalid CLIP spec {spec!r}: {reason}. Valid forms:\n{forms}")


def _check_arch(spec: str, arch: str) -> None:
    if arch not in open_clip.list_models():
        raise _spec_error(
            spec,
            f"unknown open_clip architecture {arch!r} (see open_clip.list_models(), "
            f"e.g. ViT-B-32, ViT-B-16, ViT-L-14, {TINY_ARCH})",
        )


def parse_clip_spec(spec: str) -> CLIPSpec:
    """Parse a spec; ValueError (naming the spec and the valid forms) if malformed."""
    text = spec.strip()
    if _looks_like_path(text):
        if Path(text).suffix in CHECKPOINT_SUFFIXES:
            raise _spec_error(spec, "a checkpoint file needs its architecture, as ARCH:/path")
        return CLIPSpec("folder", None, str(Path(text).expanduser()))
    prefix, sep, rest = text.partition(":")
    if not sep or not prefix or not rest:
        raise _spec_error(spec, "expected PREFIX:VALUE")
    if prefix == "random":
        _check_arch(spec, rest)
        return CLIPSpec("random", rest, None)
    _check_arch(spec, prefix)
    if _looks_like_path(rest) or Path(rest).suffix in CHECKPOINT_SUFFIXES:
        return CLIPSpec("file", prefix, str(Path(rest).expanduser()))
    tags = open_clip.list_pretrained_tags_by_model(prefix)
    if rest not in tags:
        raise _spec_error(spec, f"{prefix} has no pretrained tag {rest!r} (known: {tags})")
    return CLIPSpec("pretrained", prefix, rest)


def _tried(parsed: CLIPSpec, cache_dir: str | None) -> str:
    if parsed.kind == "pretrained":
        cache = cache_dir or "the default Hugging Face cache (HF_HOME / HF_HUB_CACHE)"
        return (
            f"open_clip pretrained tag {parsed.source!r} of {parsed.arch} through {cache}; "
            "without network access the file must already be cached "
            "(set HF_HUB_OFFLINE=1 to skip network retries)"
        )
    if parsed.kind == "file":
        return f"{parsed.arch} weights from the checkpoint file {parsed.source}"
    return f"the open_clip folder {parsed.source} (open_clip_config.json + weights)"


def _unavailable(
    parsed: CLIPSpec, cache_dir: str | None, error: Exception
) -> CLIPWeightsUnavailable:
    arch = parsed.arch or DEFAULT_CLIP_SPEC.split(":")[0]
    tag = parsed.source if parsed.kind == "pretrained" else DEFAULT_CLIP_SPEC.split(":")[1]
    hub = open_clip.get_pretrained_cfg(arch, tag).get("hf_hub", "").rstrip("/")
    where = f" from https://huggingface.co/{hub}" if hub else ""
    return CLIPWeightsUnavailable(
        f"Could not load CLIP weights for spec {str(parsed)!r}.\n"
        f"Tried: {_tried(parsed, cache_dir)}.\n"
        f"Cause: {type(error).__name__}: {error}\n"
        f"To use a local checkpoint, download open_clip_model.safetensors{where} on a machine "
        f"with internet access, then either set the environment variable\n"
        f"  {CLIP_ENV_VAR}={arch}:/path/to/open_clip_model.safetensors\n"
        f"or pass that spec as the CLIP argument. (.bin/.pt/.pth state dicts also work; they are "
        f"read with torch.load(weights_only=True).)"
    )


def _check_unpickles_safely(path: Path) -> None:
    """Unpickle torch checkpoints with weights_only=True (memory-mapped, so cheap) before open_clip
    reads them: open_clip retries a load that raises TypeError without weights_only, which runs
    arbitrary pickle code on torch < 2.6 or under TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1."""
    files = [path] if path.is_file() else [f for f in path.iterdir() if f.is_file()]
    for file in files:
        if file.suffix in CHECKPOINT_SUFFIXES and file.suffix != ".safetensors":
            torch.load(file, map_location="cpu", weights_only=True, mmap=True)


def _create_with_weights(parsed: CLIPSpec, device: torch.device | str, cache_dir: str | None):
    """open_clip model and tokenizer for a non-random spec; weights are never unpickled unsafely."""
    safe = {"require_pretrained": True, "weights_only": True, "device": device}
    if parsed.kind == "pretrained":
        model = open_clip.create_model(
            parsed.arch, pretrained=parsed.source, cache_dir=cache_dir, **safe
        )
        return model, open_clip.get_tokenizer(parsed.arch)
    path = Path(parsed.source)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint {parsed.kind}: {path}")
    _check_unpickles_safely(path)
    if parsed.kind == "folder":
        name = f"local-dir:{path}"
        return open_clip.create_model(name, **safe), open_clip.get_tokenizer(name)
    model = open_clip.create_model(parsed.arch, pretrained=str(path), **safe)
    return model, open_clip.get_tokenizer(parsed.arch)


def _describe(parsed: CLIPSpec) -> str:
    if parsed.kind == "random":
        return f"{parsed} ({RANDOM_LABEL})"
    if parsed.kind == "pretrained":
        return f"open_clip {parsed}"
    return f"open_clip {parsed.arch or 'model'} from {parsed.source}"


def load_clip(
    spec: str | CLIPSpec | None = None,
    device: torch.device | str = "cpu",
    *,
    cache_dir: str | None = None,
) -> CLIPModel:
    """Load a frozen (eval, requires_grad False) CLIP model; None means ``default_clip_spec()``.

    Raises ValueError for a malformed spec and CLIPWeightsUnavailable when the weights cannot be
    obtained. ``cache_dir`` overrides the Hugging Face cache used for pretrained tags.
    """
    parsed = spec if isinstance(spec, CLIPSpec) else parse_clip_spec(spec or default_clip_spec())
    if parsed.kind == "random":
        # open_clip logs "No pretrained weights loaded" on the root logger; random weights are
        # what was asked for, and the description already says so.
        with _without_random_weights_warning():
            model = open_clip.create_model(parsed.arch, pretrained_text=False, device=device)
        tokenizer = open_clip.get_tokenizer(parsed.arch)
    else:
        try:
            model, tokenizer = _create_with_weights(parsed, device, cache_dir)
        except Exception as error:
            raise _unavailable(parsed, cache_dir, error) from error
    model.eval().requires_grad_(False)
    use_fast_layouts(model)
    return CLIPModel(
        model=model,
        tokenizer=tokenizer,
        preprocess=PreprocessConfig.from_model(model),
        spec=str(parsed),
        is_random=parsed.kind == "random",
        description=_describe(parsed),
    )


@contextlib.contextmanager
def _without_random_weights_warning() -> Iterator[None]:
    """Drop only open_clip's "No pretrained weights loaded" record while a random model is
    created; every other log record passes."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded")

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)
