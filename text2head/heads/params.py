"""Named, bounded head parameters: specifications, the batched container, and JSON.

Every parameter has a name a person can read, a range, a neutral value and a prior scale
(the standard deviation of a Gaussian prior around the neutral value, in the parameter's own
units). Optimizers, samplers, sliders and the JSON format all read the same specifications.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch

GROUPS = ("identity", "local_shape", "expression", "pose", "appearance", "hair")
JSON_FORMAT = "text2head.params/1"
BOUND_TOLERANCE = 1e-5


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
            raise ValueError(f"unknown {kind} style {choice!r}; known: {', '.join(known[kind])}")


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
    defaults, as in files written before parts existed), unknown names fail."""
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise ValueError(f"not a text2head parameter file (expected format {JSON_FORMAT!r})")
    unknown = set(data) - set(GROUPS) - {"format", "texture_residual", "styles"}
    if unknown:
        raise ValueError(f"unknown parameter group(s) {sorted(unknown)}; known: {list(GROUPS)}")
    groups = {}
    for name in GROUPS:
        spec = specs[name]
        values = spec.column("default").clone()
        named = data.get(name, {})
        if not isinstance(named, dict):
            raise ValueError(f"{name} must be a mapping of parameter names to numbers")
        for key, number in named.items():
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise ValueError(f"{name} parameter {key!r} must be a number, got {number!r}")
            values[spec.index(key)] = float(number)
        groups[name] = values[None]
    texture = _decode_texture(data.get("texture_residual"), texture_sizes)
    params = HeadParams(**groups, texture=texture, styles=_parse_styles(data.get("styles", {})))
    validate(specs, params, texture_sizes, known_styles)
    return params


def _parse_styles(named) -> Styles:
    if not isinstance(named, dict):
        raise ValueError("styles must be a mapping of part names to style names")
    unknown = set(named) - set(Styles.kinds())
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)} in styles; known: "
                         f"{list(Styles.kinds())}")
    for kind, choice in named.items():
        if not isinstance(choice, str):
            raise ValueError(f"{kind} style must be a name, got {choice!r}")
    return Styles(**named)


def to_json(specs: dict[str, GroupSpec], params: HeadParams, index: int = 0) -> str:
    return json.dumps(to_dict(specs, params, index), indent=1)


def from_json(specs: dict[str, GroupSpec], text: str, texture_sizes: tuple[int, ...],
              known_styles: dict[str, tuple[str, ...]]):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"parameter file is not valid JSON: {error}") from None
    return from_dict(specs, data, texture_sizes, known_styles)


def _encode_grid(grid: torch.Tensor) -> dict:
    array = np.ascontiguousarray(grid.detach().cpu().numpy(), dtype="<f4")
    return {"shape": list(array.shape), "float32_base64": base64.b64encode(array).decode()}


def _decode_texture(levels, sizes: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    if levels is None:
        return tuple(torch.zeros(1, 3, s, s) for s in sizes)
    if not isinstance(levels, list) or len(levels) != len(sizes):
        raise ValueError(f"texture_residual must be a list of {len(sizes)} levels")
    grids = []
    for level, (entry, size) in enumerate(zip(levels, sizes, strict=True)):
        try:
            raw = base64.b64decode(entry["float32_base64"], validate=True)
            array = np.frombuffer(raw, dtype="<f4").reshape(entry["shape"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"texture_residual level {level} is malformed: {error}") from None
        if array.shape != (3, size, size):
            raise ValueError(f"texture_residual level {level} must be (3, {size}, {size})")
        grids.append(torch.from_numpy(array.copy())[None])
    return tuple(grids)


def _preview(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")
