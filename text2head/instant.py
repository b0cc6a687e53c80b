"""The instant head: what a prompt states, set on the neutral head before any optimization.

It gives the app something to show at once and the engine a start that already has the
stated age, beard or smile, so that CLIP refines rather than discovers them. Every attribute
of `text2head.understand` maps to parameter targets (data below); what the prompt does not
state stays as it is in the base head.
"""

from __future__ import annotations

import numpy as np

from text2head.heads import HeadModel, HeadParams
from text2head.understand import Attribute, Understanding
from text2head.variety import IRIS, Dice, person, sample_styles, vary

Target = tuple[str, str, float]  # group, parameter ("*": all of the group), value at strength 1


def _both(name: str, value: float) -> tuple[Target, Target]:
    """An anny local change on both sides: "l-eye-scale-incr" and "r-eye-scale-incr"."""
    return ("local_shape", f"l-{name}", value), ("local_shape", f"r-{name}", value)


def _both_expr(name: str, value: float) -> tuple[Target, Target]:
    """An ARKit expression on both sides: "mouthSmileLeft" and "mouthSmileRight"."""
    return ("expression", f"{name}Left", value), ("expression", f"{name}Right", value)


def _colour(region: str, red: float, green: float, blue: float) -> tuple[Target, ...]:
    return tuple(("appearance", f"{region}_{channel}", value)
                 for channel, value in zip(("red", "green", "blue"), (red, green, blue),
                                           strict=True))


def _ancestry(african: float, asian: float, european: float, melanin: float
              ) -> tuple[Target, ...]:
    return (("identity", "ancestry_african", african), ("identity", "ancestry_asian", asian),
            ("identity", "ancestry_european", european), ("appearance", "skin_melanin", melanin))


# Each parameter moves from its neutral value toward its target by the attribute's strength
# (signed attributes move away from it for negative strengths); where several attributes move
# one parameter, the largest move wins, and a stated absence (strength 0) resets it.
EFFECTS: dict[tuple[str, str], tuple[Target, ...]] = {
    ("gender", "man"): (("identity", "gender", 0.0),),
    ("gender", "woman"): (("identity", "gender", 1.0),),
    ("gender", "androgynous"): (("identity", "gender", 0.5),),
    ("build", "weight"): (("identity", "weight", 0.95),),
    ("build", "muscle"): (("identity", "muscle", 0.95),),
    ("ancestry", "african"): _ancestry(1.0, 0.0, 0.0, 0.8),
    ("ancestry", "asian"): _ancestry(0.0, 1.0, 0.0, 0.3),
    ("ancestry", "european"): _ancestry(0.0, 0.0, 1.0, 0.12),
    ("ancestry", "south asian"): _ancestry(0.15, 0.45, 0.4, 0.55),
    ("ancestry", "latino"): _ancestry(0.2, 0.2, 0.6, 0.4),
    ("ancestry", "middle eastern"): _ancestry(0.1, 0.2, 0.7, 0.35),
    ("skin", "tone"): (("appearance", "skin_melanin", 0.85),),
    ("skin", "rosy"): (("appearance", "skin_haemoglobin", 0.8),
                       ("appearance", "cheeks_amount", 0.45)),
    ("skin", "lipstick"): (*_colour("lips", 0.75, 0.08, 0.15), ("appearance", "lips_amount", 0.9)),
    ("skin", "makeup"): (*_colour("lips", 0.7, 0.25, 0.3), ("appearance", "lips_amount", 0.7),
                         *_colour("eyelids", 0.35, 0.25, 0.3),
                         ("appearance", "eyelids_amount", 0.45),
                         ("appearance", "cheeks_amount", 0.3)),
    ("skin", "wrinkles"): (("local_shape", "head-age-incr", 0.9), *_both("eye-bag-incr", 0.6),
                           ("local_shape", "mouth-laugh-lines-out", 0.6)),
    ("nose", "size"): (("local_shape", "nose-volume-incr", 0.7),
                       ("local_shape", "nose-scale-horiz-incr", 0.5),
                       ("local_shape", "nose-scale-vert-incr", 0.5),
                       ("local_shape", "nose-scale-depth-incr", 0.5)),
    ("nose", "length"): (("local_shape", "nose-scale-vert-incr", 0.8),
                         ("local_shape", "nose-scale-depth-incr", 0.3)),
    ("nose", "width"): (("local_shape", "nose-scale-horiz-incr", 0.8),
                        ("local_shape", "nose-flaring-incr", 0.4)),
    ("nose", "hump"): (("local_shape", "nose-hump-incr", 0.9),),
    ("nose", "upturned"): (("local_shape", "nose-point-up", 0.8),),
    ("chin", "prominence"): (("local_shape", "chin-prominent-incr", 0.8),),
    ("chin", "width"): (("local_shape", "chin-width-incr", 0.8),),
    ("chin", "double"): (("local_shape", "neck-double-incr", 0.9),),
    ("chin", "cleft"): (("local_shape", "chin-cleft-incr", 0.9),),
    ("jaw", "width"): (("local_shape", "chin-bones-incr", 0.8),
                       ("local_shape", "chin-width-incr", 0.4)),
    ("cheekbones", "prominence"): _both("cheek-bones-incr", 0.8),
    ("cheeks", "volume"): _both("cheek-volume-incr", 0.8),
    ("cheeks", "dimples"): (("local_shape", "mouth-dimples-out", 0.8),),
    ("eyes", "size"): _both("eye-scale-incr", 0.7),
    ("lips", "fullness"): (("local_shape", "mouth-upperlip-volume-incr", 0.8),
                           ("local_shape", "mouth-lowerlip-volume-incr", 0.8)),
    ("mouth", "width"): (("local_shape", "mouth-scale-horiz-incr", 0.8),),
    ("ears", "size"): _both("ear-scale-incr", 0.8),
    ("ears", "protruding"): _both("ear-wing-incr", 0.8),
    ("face", "length"): (("local_shape", "head-scale-vert-incr", 0.6),
                         ("local_shape", "chin-height-incr", 0.4)),
    ("face", "width"): (("local_shape", "head-scale-horiz-incr", 0.6),
                        ("local_shape", "head-fat-incr", 0.3)),
    ("forehead", "height"): (("local_shape", "forehead-scale-vert-incr", 0.8),),
    ("head", "size"): (("local_shape", "head-scale-horiz-incr", 0.5),
                       ("local_shape", "head-scale-vert-incr", 0.5),
                       ("local_shape", "head-scale-depth-incr", 0.5)),
    **{("eye_colour", name): _colour("iris", *rgb) for name, rgb in IRIS.items()},
    ("hair", "length"): (("hair", "hair_length", 0.9),),
    ("hair", "volume"): (("hair", "hair_volume", 0.85),),
    ("hair", "curly"): (("hair", "hair_volume", 0.8),),
    ("hair", "shaved"): (("hair", "hair_length", 0.0), ("hair", "hair_volume", 0.1)),
    ("brows", "thickness"): (("hair", "brow_thickness", 0.9),),
    ("facial_hair", "length"): (("hair", "beard_length", 0.9),),
    ("facial_hair", "density"): (("hair", "beard_density", 0.95),),
    ("facial_hair", "stubble"): (("hair", "beard_density", 0.8),),
    # Expressions as faces make them (FACS action units in ARKit shapes); the main shapes stay
    # below 0.7 or so, so that "very" (x1.5, clamped at 1) still shows more than plain.
    # A real smile lifts the cheeks and narrows the eyes, and parts the lips a little.
    ("expression", "smiling"): (*_both_expr("mouthSmile", 0.75), *_both_expr("cheekSquint", 0.6),
                                *_both_expr("eyeSquint", 0.5), *_both_expr("eyeBlink", 0.1),
                                *_both_expr("mouthUpperUp", 0.2),
                                *_both_expr("mouthLowerDown", 0.15),
                                *_both_expr("mouthDimple", 0.2)),
    ("expression", "grinning"): (*_both_expr("mouthSmile", 0.75), *_both_expr("mouthUpperUp", 0.45),
                                 *_both_expr("mouthLowerDown", 0.4),
                                 *_both_expr("mouthStretch", 0.3), *_both_expr("cheekSquint", 0.65),
                                 *_both_expr("eyeSquint", 0.5), *_both_expr("eyeBlink", 0.1),
                                 ("expression", "jawOpen", 0.08)),
    ("expression", "smirking"): (("expression", "mouthSmileLeft", 0.6),
                                 ("expression", "mouthDimpleLeft", 0.3)),
    ("expression", "laughing"): (*_both_expr("mouthSmile", 0.8), ("expression", "jawOpen", 0.4),
                                 *_both_expr("mouthUpperUp", 0.35),
                                 *_both_expr("mouthLowerDown", 0.3),
                                 *_both_expr("cheekSquint", 0.7), *_both_expr("eyeSquint", 0.6),
                                 *_both_expr("eyeBlink", 0.15)),
    ("expression", "angry"): (*_both_expr("browDown", 0.9), *_both_expr("noseSneer", 0.4),
                              *_both_expr("mouthPress", 0.4), *_both_expr("eyeSquint", 0.3)),
    ("expression", "shouting"): (("expression", "jawOpen", 0.8), *_both_expr("browDown", 0.6),
                                 *_both_expr("mouthStretch", 0.5),
                                 *_both_expr("mouthUpperUp", 0.4)),
    # Sadness lifts the inner brows, pulls the corners down and raises the chin.
    ("expression", "sad"): (("expression", "browInnerUp", 0.7), *_both_expr("mouthFrown", 0.7),
                            ("expression", "mouthShrugLower", 0.35)),
    ("expression", "crying"): (("expression", "browInnerUp", 0.9), *_both_expr("mouthFrown", 0.8),
                               *_both_expr("eyeSquint", 0.5), *_both_expr("mouthStretch", 0.3),
                               ("expression", "jawOpen", 0.2)),
    ("expression", "surprised"): (("expression", "browInnerUp", 0.8),
                                  *_both_expr("browOuterUp", 0.8), *_both_expr("eyeWide", 0.8),
                                  ("expression", "jawOpen", 0.5)),
    # Fear widens the eyes, lifts the brows (inner most) and stretches the mouth open.
    ("expression", "scared"): (("expression", "browInnerUp", 0.75), *_both_expr("browOuterUp", 0.6),
                               *_both_expr("eyeWide", 0.75), *_both_expr("mouthStretch", 0.6),
                               *_both_expr("mouthLowerDown", 0.3), ("expression", "jawOpen", 0.2)),
    # Disgust wrinkles the nose, raises the upper lip and the cheeks, lowers the brows.
    ("expression", "disgusted"): (*_both_expr("noseSneer", 0.8), *_both_expr("mouthUpperUp", 0.65),
                                  *_both_expr("cheekSquint", 0.4), *_both_expr("eyeSquint", 0.3),
                                  *_both_expr("browDown", 0.45), *_both_expr("mouthFrown", 0.35),
                                  ("expression", "mouthShrugLower", 0.3)),
    ("expression", "winking left"): (("expression", "eyeBlinkLeft", 1.0),
                                     ("expression", "cheekSquintLeft", 0.4),
                                     ("expression", "mouthSmileLeft", 0.3)),
    ("expression", "winking right"): (("expression", "eyeBlinkRight", 1.0),
                                      ("expression", "cheekSquintRight", 0.4),
                                      ("expression", "mouthSmileRight", 0.3)),
    ("expression", "eyes closed"): _both_expr("eyeBlink", 1.0),
    ("expression", "half-closed eyes"): _both_expr("eyeBlink", 0.5),
    ("expression", "squinting"): (*_both_expr("eyeSquint", 0.7), *_both_expr("cheekSquint", 0.5),
                                  *_both_expr("eyeBlink", 0.25), *_both_expr("browDown", 0.3)),
    ("expression", "sleeping"): (*_both_expr("eyeBlink", 1.0), ("expression", "mouthClose", 0.2)),
    ("expression", "mouth open"): (("expression", "jawOpen", 0.6),),
    ("expression", "tongue out"): (("expression", "tongueOut", 1.0),
                                   ("expression", "jawOpen", 0.4)),
    ("expression", "puffed cheeks"): (("expression", "cheekPuff", 1.0),),
    ("expression", "pouting"): (("expression", "mouthPucker", 0.8),
                                ("expression", "mouthFunnel", 0.2)),
    ("expression", "pucker"): (("expression", "mouthPucker", 0.75),
                               ("expression", "mouthFunnel", 0.3)),
    ("expression", "frowning"): (*_both_expr("browDown", 0.7), *_both_expr("mouthFrown", 0.5)),
    ("expression", "stern"): (*_both_expr("browDown", 0.4), *_both_expr("mouthPress", 0.4)),
    ("expression", "neutral"): (("expression", "*", 0.0),),
    ("pose", "yaw"): (("pose", "yaw", 30.0),),  # + turns toward the person's left (+X)
    ("pose", "pitch"): (("pose", "pitch", 20.0),),
    ("pose", "roll"): (("pose", "roll", 15.0),),
}

# Hair pigments (eumelanin, pheomelanin, grey) of each colour word. Dyed colours the pigment
# model cannot make take the nearest natural colour, or none (the hair keeps its colour).
PIGMENTS: dict[str, tuple[float, float, float] | None] = {
    "black": (0.95, 0.15, 0.0), "brown": (0.6, 0.3, 0.0), "blonde": (0.1, 0.35, 0.0),
    "platinum": (0.03, 0.1, 0.5), "red": (0.2, 0.95, 0.0), "auburn": (0.5, 0.8, 0.0),
    "strawberry": (0.1, 0.6, 0.0), "grey": (0.5, 0.1, 0.85), "white": (0.3, 0.05, 1.0),
    "blue": (0.95, 0.05, 0.0), "purple": (0.7, 0.75, 0.0), "pink": (0.05, 0.65, 0.35),
    "green": None, "rainbow": None,
}
LIGHTNESS_STEP = 0.3  # eumelanin removed by "light", added by "dark"
DYED = {"blue": "blue-black", "purple": "dark auburn", "pink": "pale strawberry blonde",
        "green": None, "rainbow": None}

# Part styles: the first rule that fits a part's kind wins. Sign: +1 stated, 0 stated absent,
# -1 stated as the opposite (short for "hair length").
STYLE_RULES: tuple[tuple[str, str, int, str, str], ...] = (
    ("hair", "bald", 1, "hair", "none"),
    ("hair", "shaved", 1, "hair", "buzz"),
    ("hair", "afro", 1, "hair", "afro01"),
    ("hair", "braid", 1, "hair", "braid01"),
    ("hair", "ponytail", 1, "hair", "ponytail01"),
    ("hair", "bob", 1, "hair", "bob01"),
    ("hair", "length", 1, "hair", "long01"),
    ("hair", "length", -1, "hair", "short04"),
    ("hair", "curly", 1, "hair", "afro01"),
    ("hair", "bald", 0, "hair", "short01"),
    ("facial_hair", "clean-shaven", 1, "facial_hair", "none"),
    ("facial_hair", "beard", 1, "facial_hair", "full_beard"),
    ("facial_hair", "length", 1, "facial_hair", "full_beard"),
    ("facial_hair", "density", 1, "facial_hair", "full_beard"),
    ("facial_hair", "goatee", 1, "facial_hair", "goatee"),
    ("facial_hair", "moustache", 1, "facial_hair", "moustache"),
    ("facial_hair", "stubble", 1, "facial_hair", "stubble"),
    ("facial_hair", "beard", 0, "facial_hair", "none"),
    ("facial_hair", "goatee", 0, "facial_hair", "none"),
    ("facial_hair", "moustache", 0, "facial_hair", "none"),
    ("facial_hair", "stubble", 0, "facial_hair", "none"),
    ("brows", "none", 1, "eyebrows", "none"),
)

# Years to the model's age parameter (0 = baby, 1/3 = child, 2/3 = young adult, 1 = old).
PIGMENT_NAMES = ("eumelanin", "pheomelanin", "grey")
UNSTATED_HAIR = {True: "long01", False: "short02"}  # by "is the head feminine"
AGE_ANCHORS = ((1.0, 0.0), (11.0, 1 / 3), (25.0, 2 / 3), (90.0, 1.0))
GREY_YEARS = (45.0, 85.0)  # hair greys from the first age to fully (0.9) at the second
WRINKLE_YEARS = (50.0, 90.0)


def instant_head(model: HeadModel, understanding: Understanding,
                 base: HeadParams | None = None, *, seed: int | None = None,
                 variety: float = 1.0) -> HeadParams:
    """`base` (the neutral head by default) with every understood attribute shown clearly.

    With a `seed`, what the prompt leaves open moves `variety` of the way toward the seed's
    person (`text2head.variety`): a new seed is a new face, skin, eyes, hair and styles,
    while everything stated stays as it is without one. Given a `base`, its styles stay
    (the seed moves only its values: "more like this")."""
    if not 0.0 <= variety <= 1.0:
        raise ValueError(f"variety must be between 0 and 1, got {variety}")
    head = (base if base is not None else model.neutral()).detach()
    moves = _moves(model, understanding)
    dice = None
    if seed is not None and variety > 0:
        dice = Dice.roll(seed, len(model.specs["local_shape"].params))
        vary(model, head, person(dice, _years_values), dice,
             _stated(model, moves, understanding), variety)
    for (group, index), move in moves.items():
        getattr(head, group)[:, index] = model.specs[group].params[index].default + move
    _set_hair_colours(model, head, understanding)
    for group, value in head.groups():
        setattr(head, group, value.clamp(model.specs[group].column("low", value),
                                         model.specs[group].column("high", value)))
    stated_styles = _styles(understanding)
    if dice is not None and base is None:
        unstated = sample_styles(dice, model.known_styles, _feminine(model, head),
                                 _years(model, head))
        head = head.with_styles(**{**unstated, **stated_styles})
    else:
        head = head.with_styles(**stated_styles)
        names_a_person = understanding.get("gender") or understanding.get("age")
        if base is None and names_a_person and "hair" not in stated_styles:
            head = head.with_styles(hair=UNSTATED_HAIR[_feminine(model, head)])
    model.validate(head)
    return head


def stated_parameters(model: HeadModel, understanding: Understanding) -> set[tuple[str, str]]:
    """(group, parameter) of everything the prompt states: a seed never moves these. A hair
    colour or lightness states all three hair pigments ("light hair" is lighter than the
    neutral head's, not than the seed's)."""
    return _stated(model, _moves(model, understanding), understanding)


def _stated(model: HeadModel, moves: dict[tuple[str, int], float],
            understanding: Understanding) -> set[tuple[str, str]]:
    stated = {(group, model.specs[group].names[index]) for group, index in moves}
    if understanding.get("hair_colour"):
        stated |= {("hair", f"hair_{pigment}") for pigment in PIGMENT_NAMES}
    return stated


def _moves(model: HeadModel, understanding: Understanding) -> dict[tuple[str, int], float]:
    """(group, index) → how far each stated attribute moves a parameter from its default."""
    moves: dict[tuple[str, int], float] = {}
    for attribute in understanding.attributes:
        strength, targets = _targets(attribute)
        for group, name, target in targets:
            spec = model.specs[group]
            indices = range(len(spec.params)) if name == "*" else (spec.index(name),)
            for index in indices:
                move = strength * (target - spec.params[index].default)
                if abs(move) >= abs(moves.get((group, index), 0.0)):
                    moves[(group, index)] = move
    return moves


def _feminine(model: HeadModel, head: HeadParams) -> bool:
    """Is the head feminine: a person whose hair is unstated gets long hair if so (short
    otherwise) without a seed, and mostly long hair with one."""
    return float(head.identity[0, model.specs["identity"].index("gender")]) > 0.5


def _years(model: HeadModel, head: HeadParams) -> float:
    age = float(head.identity[0, model.specs["identity"].index("age")])
    return float(np.interp(age, [b for _, b in AGE_ANCHORS], [a for a, _ in AGE_ANCHORS]))


def _years_values(years: float) -> dict[tuple[str, str], float]:
    return {(group, name): value for group, name, value in _age_targets(years)}


def instant_styles_fixed(understanding: Understanding) -> set[str]:
    """The part kinds the prompt states ("bald", "no beard"): the engine keeps them."""
    return set(_styles(understanding))


def not_shown(understanding: Understanding) -> list[str]:
    """Why stated attributes are missing or approximate in the instant head, for the user."""
    notes = []
    for attribute in understanding.attributes:
        if attribute.family == "skin" and attribute.name == "freckles" and attribute.value:
            notes.append(f"{attribute.words}: the head model has no freckles parameter")
        if attribute.family in ("hair_colour", "beard_colour") and attribute.name in DYED:
            nearest = DYED[attribute.name]
            notes.append(f"{attribute.words}: dyed colours are outside the hair pigment model; "
                         + (f"shown as {nearest}" if nearest else "colour left unchanged"))
    return notes


def _targets(attribute: Attribute) -> tuple[float, tuple[Target, ...]]:
    """The strength of an attribute and the parameter targets it moves toward."""
    if (attribute.family, attribute.name) == ("age", "years"):
        return 1.0, _age_targets(attribute.value)
    return attribute.value, EFFECTS.get((attribute.family, attribute.name), ())


def _age_targets(years: float) -> tuple[Target, ...]:
    """Age in years as the age parameter, with the grey hair and wrinkles that come with it
    (none when young: a stated child is never grey, whatever the seed)."""
    return (("identity", "age", _interpolate(years, AGE_ANCHORS)),
            ("hair", "hair_grey", 0.9 * _ramp(years, *GREY_YEARS)),
            ("local_shape", "head-age-incr", 0.9 * _ramp(years, *WRINKLE_YEARS)))


def _set_hair_colours(model: HeadModel, head: HeadParams, understanding: Understanding) -> None:
    """Hair pigments from the first stated colour, lighter or darker as stated; beard colours
    as shifts from the hair's pigments (the beard follows the hair unless shifted)."""
    names = model.specs["hair"].names
    hair = head.hair
    colour = _pigments(understanding, "hair_colour")
    if colour is not None:
        for pigment, value in zip(PIGMENT_NAMES, colour, strict=True):
            hair[:, names.index(f"hair_{pigment}")] = value
    lightness = understanding.get("hair_colour", "lightness")
    if lightness is not None:
        hair[:, names.index("hair_eumelanin")] -= LIGHTNESS_STEP * lightness.value
    beard = _pigments(understanding, "beard_colour")
    if beard is not None:
        for pigment, value in zip(PIGMENT_NAMES, beard, strict=True):
            shift = value - hair[:, names.index(f"hair_{pigment}")].clamp(0, 1)
            hair[:, names.index(f"beard_{pigment}_shift")] = shift


def _pigments(understanding: Understanding, family: str) -> tuple[float, float, float] | None:
    for attribute in understanding.attributes:
        if attribute.family == family and attribute.value > 0 and PIGMENTS.get(attribute.name):
            return PIGMENTS[attribute.name]
    return None


def _styles(understanding: Understanding) -> dict[str, str]:
    styles: dict[str, str] = {}
    for family, name, sign, kind, style in STYLE_RULES:
        attribute = understanding.get(family, name)
        if attribute is not None and kind not in styles and _sign(attribute.value) == sign:
            styles[kind] = style
    return styles


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _ramp(value: float, low: float, high: float) -> float:
    return min(max((value - low) / (high - low), 0.0), 1.0)


def _interpolate(x: float, anchors: tuple[tuple[float, float], ...]) -> float:
    return float(np.interp(x, [a for a, _ in anchors], [b for _, b in anchors]))
