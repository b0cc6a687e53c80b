"""Named, bounded head parameters: specifications, the batched container, and JSON.

Every parameter has a name a person can read, a range, a neutral value and a prior scale
(the standard deviation of a Gaussian prior around the neutral value, in the parameter's own
units). Optimizers, samplers, sliders and the JSON format all read the same specifications.
"""

from __future__ import annotations

import base64
import difflib
import functools
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

GROUPS = ("identity", "local_shape", "expression", "pose", "appearance", "hair")
JSON_FORMAT = "text2head.params/1"
BOUND_TOLERANCE = 1e-5
# The largest parameter file `read_file` opens. A head with a painted texture residual (every
# generated head) is about 1.41 MB: the six float32 levels alone are 1.40 MB of base64.
MAX_FILE_BYTES = 2_000_000
# A params.json nests 4 levels (file, texture_residual, level, shape); far deeper is not one,
# and Python's json parser would hit the recursion limit.
MAX_JSON_DEPTH = 32
MAX_MESSAGE_CHARS = 300
TOP_LEVEL_KEYS = ("format", *GROUPS, "styles", "texture_residual")
TEXTURE_KEYS = ("shape", "float32_base64")
_MISSING = object()  # a key that is not there
_FORMAT_FAMILY = re.compile(r"text2head\.params/(\S{1,20})")
# A JSON string, or an unterminated one up to the end of the text.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)


@dataclass(frozen=True)
class ParamSpec:
    """One scalar parameter."""

    name: str
    low: float
    high: float
    default: float
    prior_sd: float
    doc: str = ""


@dataclass(frozen=True)
class GroupSpec:
    """An ordered group of scalar parameters that is optimized as one tensor."""

    name: str
    params: tuple[ParamSpec, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def index(self, name: str) -> int:
        for i, spec in enumerate(self.params):
            if spec.name == name:
                return i
        raise ValueError(f"unknown {self.name} parameter {name!r}; known: {_preview(self.names)}")

    def column(self, attribute: str, like: torch.Tensor | None = None) -> torch.Tensor:
        """One attribute (low, high, default, prior_sd) of every parameter as a 1-D tensor
        (a fresh copy when `like` is None; with `like`, possibly a shared cached tensor on its
        device and dtype: do not modify it in place)."""
        values = _column(self, attribute)
        return values.clone() if like is None else values.to(like)


@dataclass(frozen=True)
class Styles:
    """The discrete choices of a head: which proxy (or "none") each part uses.

    Defaults are a bald, clean-shaven head with brows, lashes and teeth; parameter files
    written before parts existed load with these.
    """

    hair: str = "none"
    eyebrows: str = "eyebrow001"
    eyelashes: str = "eyelashes01"
    teeth: str = "teeth_base"
    facial_hair: str = "none"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass
class HeadParams:
    """A batch of B heads: one (B, n) tensor per group and a coarse-to-fine texture residual.

    `texture` holds (B, 3, r, r) grids of increasing resolution r whose upsampled sum is added
    to the albedo in logit space; all zeros means "no painted detail".
    """

    identity: torch.Tensor
    local_shape: torch.Tensor
    expression: torch.Tensor
    pose: torch.Tensor
    appearance: torch.Tensor
    hair: torch.Tensor
    texture: tuple[torch.Tensor, ...]
    styles: Styles = field(default_factory=Styles)

    @property
    def batch_size(self) -> int:
        return self.identity.shape[0]

    def groups(self) -> Iterator[tuple[str, torch.Tensor]]:
        for name in GROUPS:
            yield name, getattr(self, name)

    def map(self, function) -> HeadParams:
        """A new HeadParams with `function` applied to every tensor."""
        groups = {name: function(value) for name, value in self.groups()}
        return HeadParams(**groups, texture=tuple(function(t) for t in self.texture),
                          styles=self.styles)

    def detach(self) -> HeadParams:
        return self.map(lambda t: t.detach().clone())

    def to(self, device: torch.device | str) -> HeadParams:
        return self.map(lambda t: t.to(device))

    def select(self, index: int) -> HeadParams:
        """The single head at `index` as a batch of one."""
        return self.map(lambda t: t[index : index + 1])

    def with_group(self, name: str, value: torch.Tensor) -> HeadParams:
        return replace(self, **{name: value})

    def with_styles(self, **choices: str) -> HeadParams:
        return replace(self, styles=replace(self.styles, **choices))


@functools.cache
def _column(spec: GroupSpec, attribute: str) -> torch.Tensor:
    """Built once per group and attribute: validation, clamping and priors read them every step."""
    return torch.tensor([getattr(p, attribute) for p in spec.params], dtype=torch.float32)


def validate(specs: dict[str, GroupSpec], params: HeadParams, texture_sizes: tuple[int, ...],
             known_styles: dict[str, tuple[str, ...]]):
    """Raise ValueError naming the parameter if a shape, value, range or style is wrong."""
    validate_styles(params.styles, known_styles)
    batch = params.batch_size
    for name, value in params.groups():
        spec = specs[name]
        if not isinstance(value, torch.Tensor) or value.shape != (batch, len(spec.params)):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{name} must have shape ({batch}, {len(spec.params)}), got {shape}")
        _check_values(spec, value)
    if len(params.texture) != len(texture_sizes):
        raise ValueError(
            f"texture must have {len(texture_sizes)} levels, got {len(params.texture)}"
        )
    for level, (grid, size) in enumerate(zip(params.texture, texture_sizes, strict=True)):
        if grid.shape != (batch, 3, size, size):
            raise ValueError(
                f"texture level {level} must have shape ({batch}, 3, {size}, {size}), "
                f"got {tuple(grid.shape)}"
            )
        if not torch.isfinite(grid).all():
            raise ValueError(f"texture level {level} contains NaN or inf")


def validate_styles(styles: Styles, known: dict[str, tuple[str, ...]]) -> None:
    """Raise ValueError naming the part and its known styles for an unknown choice."""
    if not isinstance(styles, Styles):
        raise ValueError(f"styles must be a Styles, got {type(styles).__name__}")
    for kind, choice in styles.to_dict().items():
        if choice not in known[kind]:
            raise ValueError(f"unknown {kind} style {_quote(choice)}; known: "
                             f"{', '.join(known[kind])}")


def _check_values(spec: GroupSpec, value: torch.Tensor) -> None:
    finite = torch.isfinite(value)
    low, high = spec.column("low", value), spec.column("high", value)
    inside = (value >= low - BOUND_TOLERANCE) & (value <= high + BOUND_TOLERANCE)
    if bool(finite.all()) and bool(inside.all()):
        return
    bad = (~finite | ~inside).nonzero()[0]
    row, col = int(bad[0]), int(bad[1])
    param, number = spec.params[col], float(value[row, col])
    problem = "is NaN" if math.isnan(number) else "is infinite" if math.isinf(number) else (
        f"= {number:.6g} is outside [{param.low:g}, {param.high:g}]"
    )
    raise ValueError(f"{spec.name} parameter {param.name!r} {problem}")


def to_dict(specs: dict[str, GroupSpec], params: HeadParams, index: int = 0) -> dict:
    """One head as a JSON-ready dict of named values.

    The texture residual is base64-encoded float32 (exact), or null when nothing is painted.
    """
    data: dict = {"format": JSON_FORMAT}
    for name, value in params.groups():
        row = value[index].detach().cpu().double().tolist()
        data[name] = dict(zip(specs[name].names, row, strict=True))
    data["styles"] = params.styles.to_dict()
    painted = any(bool(grid[index].any()) for grid in params.texture)
    data["texture_residual"] = (
        [_encode_grid(grid[index]) for grid in params.texture] if painted else None
    )
    return data


def from_dict(
    specs: dict[str, GroupSpec], data: dict, texture_sizes: tuple[int, ...],
    known_styles: dict[str, tuple[str, ...]],
) -> HeadParams:
    """Parse `to_dict` output; missing names take their neutral value (missing styles their
    defaults, as in files written before parts existed). Any JSON value is checked: a wrong
    format or version, unknown names (all of them, each with where it was found), wrong
    types, NaN, infinities and values out of range raise a one-line ValueError."""
    if not isinstance(data, dict):
        raise ValueError("not a text2head parameter file: the top level must be a JSON object, "
                         f"found {_describe(data)}")
    _check_format(data.get("format", _MISSING))
    for shown in (6, 3, 1):  # as many names as fit in one short line
        unknown = "; ".join(_unknown_keys(specs, data, shown))
        if len(unknown) <= MAX_MESSAGE_CHARS - 40:
            break
    if unknown:
        raise ValueError(unknown)
    groups = {}
    for name in GROUPS:
        spec = specs[name]
        values = spec.column("default").double()
        named = data.get(name, {})
        if not isinstance(named, dict):
            raise ValueError(f"{name} must be an object of parameter names to numbers, "
                             f"found {_describe(named)}")
        for key, number in named.items():
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise ValueError(f"{name} parameter {_quote(key)} must be a number, "
                                 f"found {_describe(number)}")
            values[spec.index(key)] = _as_float(number)
        _check_values(spec, values[None])  # in float64: 1e308 is out of range, not inf
        groups[name] = values.float()[None]
    texture = _decode_texture(data.get("texture_residual"), texture_sizes)
    params = HeadParams(**groups, texture=texture, styles=_parse_styles(data.get("styles", {})))
    validate(specs, params, texture_sizes, known_styles)
    return params


def _check_format(value) -> None:
    if value == JSON_FORMAT:
        return
    if value is _MISSING:
        raise ValueError(f'not a text2head parameter file: it has no "format" '
                         f"(expected {JSON_FORMAT!r})")
    version = _FORMAT_FAMILY.fullmatch(value) if isinstance(value, str) else None
    if version:
        raise ValueError(f"format {value!r} is version {version[1]} of text2head parameter "
                         f"files; this text2head reads only {JSON_FORMAT!r}")
    raise ValueError(f"not a text2head parameter file: format is {_describe(value)}, "
                     f"expected {JSON_FORMAT!r}")


def _unknown_keys(specs: dict[str, GroupSpec], data: dict, shown: int) -> list[str]:
    """Every unknown name, grouped by where it was found, `shown` of each place quoted and
    the rest counted (containers of the wrong type are reported later, by type)."""
    found = []

    def collect(where: str, mapping, known) -> None:
        if isinstance(mapping, dict):
            extra = [key for key in mapping if key not in known]
            if extra:
                found.append(f"unknown {where}: {_names(extra, known, shown)}")

    collect("group(s) at the top level", data, TOP_LEVEL_KEYS)
    for name in GROUPS:
        collect(f"parameter(s) in {name}", data.get(name), specs[name].names)
    collect("part(s) in styles", data.get("styles"), Styles.kinds())
    levels = data.get("texture_residual")
    if isinstance(levels, list):
        for level, entry in enumerate(levels[:16]):
            collect(f"key(s) in texture_residual level {level}", entry, TEXTURE_KEYS)
    return found


def _as_float(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer beyond the float range
        return math.inf if number > 0 else -math.inf


def _parse_styles(named) -> Styles:
    if not isinstance(named, dict):
        raise ValueError(f"styles must be an object of part names to style names, "
                         f"found {_describe(named)}")
    for kind, choice in named.items():  # unknown kinds were named by _unknown_keys
        if not isinstance(choice, str):
            raise ValueError(f"{kind} style must be a name, found {_describe(choice)}")
    return Styles(**named)


def to_json(specs: dict[str, GroupSpec], params: HeadParams, index: int = 0) -> str:
    return json.dumps(to_dict(specs, params, index), indent=1)


def from_json(specs: dict[str, GroupSpec], text: str, texture_sizes: tuple[int, ...],
              known_styles: dict[str, tuple[str, ...]]):
    """Parse a params.json text (see `parse_json` and `from_dict`)."""
    return from_dict(specs, parse_json(text), texture_sizes, known_styles)


def parse_json(text: str):
    """JSON text to Python values; ValueError (never RecursionError) for anything that is not
    JSON or nests deeper than MAX_JSON_DEPTH."""
    depth = _nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested too deeply ({depth:,} levels of brackets; a parameter file "
                         f"has 4 and at most {MAX_JSON_DEPTH} are read)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} at line {error.lineno}, "
                         f"column {error.colno}") from None
    except ValueError:  # e.g. an integer with more digits than Python converts
        raise ValueError("not valid JSON: a number is too long") from None
    except RecursionError:  # the depth check should make this unreachable
        raise ValueError("nested too deeply") from None


def _nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (fast on megabytes)."""
    if "[" not in text and "{" not in text:
        return 0
    outside = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(outside, dtype=np.uint8)
    steps = (codes == ord("[")).astype(np.int32) + (codes == ord("{"))
    steps -= (codes == ord("]")).astype(np.int32) + (codes == ord("}"))
    return int(np.cumsum(steps).max(initial=0))


def read_file(specs: dict[str, GroupSpec], path: str | Path, texture_sizes: tuple[int, ...],
              known_styles: dict[str, tuple[str, ...]]) -> HeadParams:
    """The head in a params.json, read strictly: whatever bytes the file holds, this returns
    a valid HeadParams or raises a one-line ValueError that starts with the file's name
    ("params.json: ..."); FileNotFoundError (also naming the file) when nothing is there."""
    path = Path(path)
    name = _file_label(path)
    try:
        return from_json(specs, _read_text(path, name), texture_sizes, known_styles)
    except ValueError as error:
        raise ValueError(_shorten(f"{name}: {error}")) from None


def _read_text(path: Path, name: str) -> str:
    """The file's text, after checking what it is and its size before reading it whole."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ValueError("is a folder, not a parameter file")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(_too_large(info.st_size))
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # the file may have grown since
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: parameter file not found: {path}") from None
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror or error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(_too_large(len(data)))
    if data.startswith(b"glTF"):
        raise ValueError("looks like a GLB model (binary glTF), not a params.json")
    if not data.strip():
        raise ValueError("is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"is not a text file (not UTF-8: byte 0x{data[error.start]:02x} "
                         f"at offset {error.start})") from None


def _too_large(size: int) -> str:
    return (f"is too large for a parameter file ({size:,} bytes; "
            f"the limit is {MAX_FILE_BYTES:,} bytes)")


def _file_label(path: Path) -> str:
    name = path.name or str(path)
    return name if name.isprintable() and len(name) <= 80 else _quote(name, 80)


def _describe(value) -> str:
    """A JSON value as a person would name it, short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _shorten(repr(value), 40)
    if isinstance(value, str):
        return f"the text {_quote(value)}"
    return "a list" if isinstance(value, list) else "an object"


def _quote(text: str, limit: int = 40) -> str:
    """repr() of a name, cut to `limit` characters (a key may be a megabyte long)."""
    return _shorten(repr(text[: limit + 1]), limit + 2)


def _names(names: list[str], known=(), limit: int = 6) -> str:
    """Quoted names, the first `limit` of them, each with a likely intended name."""
    shown = []
    for key in names[:limit]:
        close = difflib.get_close_matches(key, known, n=1) if len(key) <= 64 else []
        shown.append(_quote(key) + (f" (did you mean {close[0]!r}?)" if close else ""))
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _encode_grid(grid: torch.Tensor) -> dict:
    array = np.ascontiguousarray(grid.detach().cpu().numpy(), dtype="<f4")
    return {"shape": list(array.shape), "float32_base64": base64.b64encode(array).decode()}


def _decode_texture(levels, sizes: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    if levels is None:
        return tuple(torch.zeros(1, 3, s, s) for s in sizes)
    if not isinstance(levels, list) or len(levels) != len(sizes):
        raise ValueError(f"texture_residual must be a list of {len(sizes)} levels or null, "
                         f"found {_describe(levels)}"
                         + (f" of {len(levels)}" if isinstance(levels, list) else ""))
    grids = []
    for level, (entry, size) in enumerate(zip(levels, sizes, strict=True)):
        where = f"texture_residual level {level}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object with shape and float32_base64, "
                             f"found {_describe(entry)}")
        shape = entry.get("shape")
        if not isinstance(shape, list) or shape != [3, size, size]:
            found = _shorten(repr(shape), 40) if isinstance(shape, list) else _describe(shape)
            raise ValueError(f"{where} must have shape [3, {size}, {size}], found {found}")
        encoded = entry.get("float32_base64")
        if not isinstance(encoded, str):
            raise ValueError(f"{where}: float32_base64 must be a text, found {_describe(encoded)}")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:  # binascii.Error, or characters that are not ASCII
            raise ValueError(f"{where}: float32_base64 is not valid base64") from None
        expected = 3 * size * size * 4
        if len(raw) != expected:
            raise ValueError(f"{where} holds {len(raw)} bytes; shape [3, {size}, {size}] "
                             f"needs {expected}")
        array = np.frombuffer(raw, dtype="<f4").reshape(3, size, size)
        grids.append(torch.from_numpy(array.copy())[None])
    return tuple(grids)


def _preview(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")
