"""What a prompt leaves open, decided by the seed.

The prompt fixes what it states and the seed decides the rest, so "a man" with sixteen seeds
is sixteen different men. Every number is drawn up front in one fixed order, so a seed is
the same person whatever the prompt states: "a man" and "a smiling man" with seed 3 are the
same man, once smiling. Each unstated value moves from the base head toward its draw by
`amount` (0 keeps the base head, 1 is the draw itself).

The distribution, per unstated attribute (stated ones are never touched):
- gender: feminine or masculine with equal odds, up to 0.2 from the model's end value;
- age: 18-70 years, uniform; hair greys from 45 years and wrinkles from 50, as the reader's
  ages do (`years_targets`);
- muscle, weight and proportions: normal around the neutral 0.5 (sd 0.15), within 0.1-0.9;
- skin melanin: uniform on [0, 1]; the three ancestry shape weights are uniform, leaning
  toward the set that usually goes with that skin; haemoglobin 0.2-0.7;
- every local shape change: normal around 0 with sd 0.25 (the prior's sd is 0.3), the left
  and right of a pair (ears, eyes, cheeks) kept close (`mostly_symmetric`);
- eyes: brown (darker with darker skin) for most; with pale skin also blue, grey, green or
  hazel;
- hair: eumelanin rises with the skin's melanin, pheomelanin 0-0.45, 8% red-haired among the
  palest; volume, length, brow height, beard density and length, teeth shade within the
  ranges random heads use;
- styles (the prompt's stated styles stay): see `sample_styles`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from text2head.heads import HeadModel, HeadParams
from text2head.heads.parts import LONG_STYLES, NONE, SHORT_STYLES
from text2head.heads.specs import mostly_symmetric

Key = tuple[str, str]  # (group, parameter)
ADULT_YEARS = (18.0, 70.0)
# Eye colours as sRGB iris colours; the reader's colour words use the same ones.
IRIS = {"blue": (0.30, 0.50, 0.75), "green": (0.35, 0.55, 0.35), "brown": (0.33, 0.22, 0.13),
        "hazel": (0.50, 0.40, 0.20), "grey": (0.50, 0.55, 0.60), "dark": (0.12, 0.08, 0.06),
        "amber": (0.70, 0.45, 0.15), "violet": (0.50, 0.35, 0.70)}
# How common each light eye colour is among pale-skinned people (the rest have brown eyes).
LIGHT_EYES = (("blue", 0.3), ("grey", 0.1), ("green", 0.1), ("hazel", 0.15))
# (style, chance): facial hair of adult men; none otherwise.
FACIAL_HAIR = (("stubble", 0.15), ("full_beard", 0.12), ("goatee", 0.08), ("moustache", 0.1))
# Of the unstated hair of a man, the share that is long (the rest is short or bald).
LONG_HAIR = {True: 0.75, False: 0.15}  # by "is the head feminine"
BALD_YEARS = ((20.0, 0.02), (70.0, 0.35))  # a man's chance to be bald at these ages


@dataclass(frozen=True)
class Dice:
    """The seed's numbers, drawn in one fixed order whatever is stated."""

    uniform: dict[str, float]
    local_shape: torch.Tensor  # (L,) standard normal

    NAMES = ("feminine", "gender", "years", "muscle", "weight", "proportions", "melanin",
             "african", "asian", "european", "haemoglobin", "eyes", "brown_shade", "eumelanin",
             "pheomelanin", "red_hair", "grey", "hair_volume", "hair_length", "brow_thickness",
             "beard_density", "beard_length", "teeth_shade", "bald", "long", "hair_style",
             "facial_hair", "facial_hair_style", "eyebrows", "eyelashes", "teeth")

    @classmethod
    def roll(cls, seed: int, n_local: int) -> Dice:
        generator = torch.Generator().manual_seed(seed)
        values = torch.rand(len(cls.NAMES), generator=generator, dtype=torch.float64)
        local = torch.randn(n_local, generator=generator, dtype=torch.float64)
        return cls(dict(zip(cls.NAMES, values.tolist(), strict=True)), local)

    def normal(self, name: str) -> float:
        """A standard normal from the named uniform (inverse CDF), so it keeps its slot."""
        value = min(max(self.uniform[name], 1e-6), 1 - 1e-6)
        return float(torch.special.ndtri(torch.tensor(value, dtype=torch.float64)))


def person(dice: Dice, years_targets: Callable[[float], dict[Key, float]]) -> dict[Key, float]:
    """Every scalar the seed decides, as (group, parameter) → value; `years_targets` turns an
    age into the values that come with it (the reader's own rule)."""
    u = dice.uniform
    values: dict[Key, float] = {("identity", "gender"): 1.0 - 0.2 * u["gender"]
                                if u["feminine"] < 0.5 else 0.2 * u["gender"]}
    years = ADULT_YEARS[0] + (ADULT_YEARS[1] - ADULT_YEARS[0]) * u["years"]
    values.update(years_targets(years))
    values[("hair", "hair_grey")] *= 0.5 + 0.5 * u["grey"]  # some grey sooner than others
    for name in ("muscle", "weight", "proportions"):
        values[("identity", name)] = min(max(0.5 + 0.15 * dice.normal(name), 0.1), 0.9)
    melanin = u["melanin"]
    leaning = {"african": 0.2 + melanin, "asian": 0.6 - 0.3 * abs(melanin - 0.4),
               "european": 1.2 - melanin}
    for name, lean in leaning.items():
        values[("identity", f"ancestry_{name}")] = u[name] * lean
    values[("appearance", "skin_melanin")] = melanin
    values[("appearance", "skin_haemoglobin")] = 0.2 + 0.5 * u["haemoglobin"]
    iris = _iris(u["eyes"], u["brown_shade"], melanin)
    values.update({("appearance", f"iris_{c}"): v for c, v in zip(("red", "green", "blue"),
                                                                    iris, strict=True)})
    red = melanin < 0.25 and u["red_hair"] < 0.08
    values[("hair", "hair_eumelanin")] = (0.1 + 0.2 * u["eumelanin"] if red else
                                          min(0.15 + 0.6 * melanin + 0.5 * u["eumelanin"], 1.0))
    values[("hair", "hair_pheomelanin")] = 0.6 + 0.3 * u["pheomelanin"] if red else \
        0.45 * u["pheomelanin"]
    for name, low, high in (("hair_volume", 0.3, 0.7), ("hair_length", 0.2, 0.8),
                            ("brow_thickness", 0.3, 0.8), ("beard_density", 0.4, 1.0),
                            ("beard_length", 0.1, 0.9), ("teeth_shade", 0.1, 0.5)):
        values[("hair", name)] = low + (high - low) * u[name]
    return values


def _iris(roll: float, shade: float, melanin: float) -> tuple[float, float, float]:
    """Brown eyes for most people; light colours mostly with pale skin."""
    light_share = max(0.0, 1.0 - 2.0 * melanin)  # none from melanin 0.5 up
    for name, share in LIGHT_EYES:
        if roll < share * light_share:
            return IRIS[name]
        roll -= share * light_share
    brown, dark = IRIS["brown"], IRIS["dark"]
    darkness = min(max(0.6 * melanin + 0.4 * shade, 0.0), 1.0)
    return tuple(b + darkness * (d - b) for b, d in zip(brown, dark, strict=True))


def sample_styles(dice: Dice, known: dict[str, tuple[str, ...]], feminine: bool,
                  years: float) -> dict[str, str]:
    """Styles plausible for the person: long hair mostly for women, baldness growing with a
    man's age, facial hair only on adult men, brows, lashes and teeth of any shape."""
    u = dice.uniform
    bald = not feminine and years >= 18 and u["bald"] < _bald_chance(years)
    long_hair = u["long"] < LONG_HAIR[feminine]
    choices = [s for s in (LONG_STYLES if long_hair else SHORT_STYLES) if s in known["hair"]]
    styles = {"hair": NONE if bald else _pick(choices, u["hair_style"])}
    facial_hair = NONE
    if not feminine and years >= 18:
        roll = u["facial_hair"]
        for style, chance in FACIAL_HAIR:
            if roll < chance:
                facial_hair = style
                break
            roll -= chance
    styles["facial_hair"] = facial_hair
    for kind in ("eyebrows", "eyelashes", "teeth"):
        styles[kind] = _pick([s for s in known[kind] if s != NONE], u[kind])
    return styles


def _bald_chance(years: float) -> float:
    (young, low), (old, high) = BALD_YEARS
    return low + (high - low) * min(max((years - young) / (old - young), 0.0), 1.0)


def _pick(options: list[str], roll: float) -> str:
    return options[min(int(roll * len(options)), len(options) - 1)]


def vary(model: HeadModel, head: HeadParams, values: dict[Key, float], dice: Dice,
         stated: set[Key], amount: float) -> None:
    """Move every unstated parameter of `head` (in place) toward the seed's value by
    `amount`: the local shape changes, then the scalars in `values` (an age's wrinkles are
    a local change that the age decides, not the dice)."""
    local = head.local_shape
    free = torch.tensor([("local_shape", n) not in stated and ("local_shape", n) not in values
                         for n in model.specs["local_shape"].names], device=local.device)
    draws = 0.25 * mostly_symmetric(dice.local_shape.to(local), model.specs["local_shape"].names)
    local += amount * free * (draws - local)
    for (group, name), value in values.items():
        if (group, name) in stated:
            continue
        index = model.specs[group].index(name)
        column = getattr(head, group)
        column[:, index] += amount * (value - column[:, index])
