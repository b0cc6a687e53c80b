"""The edit controls of the studio: named sliders over head parameters and the part style
menus, applied to a head without CLIP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from text2head.heads import HeadModel, HeadParams


@dataclass(frozen=True)
class EditControl:
    """A named edit slider: moves one or more parameters of a group by the same amount
    (left and right halves, or the parts of one expression), keeping their differences."""

    label: str
    section: str
    group: str
    names: tuple[str, ...]

    def bounds(self, model: HeadModel) -> tuple[float, float]:
        spec = model.specs[self.group].params[model.specs[self.group].index(self.names[0])]
        return spec.low, spec.high

    def step(self, model: HeadModel) -> float:
        """The slider resolution: a change smaller than half of it is not an edit."""
        low, high = self.bounds(model)
        return (high - low) / 200

    def read(self, model: HeadModel, head: HeadParams) -> float:
        """The mean of the driven parameters of the first head."""
        values = getattr(head, self.group)[0]
        return float(sum(values[model.specs[self.group].index(n)] for n in self.names)
                     / len(self.names))


def _edit(label: str, section: str, group: str, *names: str) -> EditControl:
    return EditControl(label, section, group, names)


def _sides(label: str, section: str, group: str, name: str) -> EditControl:
    """A control moving the left and right versions of a parameter together."""
    if group == "expression":
        return _edit(label, section, group, f"{name}Left", f"{name}Right")
    return _edit(label, section, group, f"l-{name}", f"r-{name}")


HAIR_SECTION = "Hair & face details"
EDIT_CONTROLS = (
    _edit("Age", "Identity", "identity", "age"),
    _edit("Gender (masculine → feminine)", "Identity", "identity", "gender"),
    _edit("Weight", "Identity", "identity", "weight"),
    _edit("Muscle", "Identity", "identity", "muscle"),
    _edit("Skin tone (melanin)", "Identity", "appearance", "skin_melanin"),
    _edit("Skin redness", "Identity", "appearance", "skin_haemoglobin"),
    _edit("Nose size", "Face shape", "local_shape", "nose-volume-incr"),
    _edit("Nose width", "Face shape", "local_shape", "nose-scale-horiz-incr"),
    _edit("Nose length", "Face shape", "local_shape", "nose-scale-vert-incr"),
    _edit("Nose hump", "Face shape", "local_shape", "nose-hump-incr"),
    _edit("Chin prominence", "Face shape", "local_shape", "chin-prominent-incr"),
    _edit("Chin width", "Face shape", "local_shape", "chin-width-incr"),
    _sides("Cheekbones", "Face shape", "local_shape", "cheek-bones-incr"),
    _sides("Cheek volume", "Face shape", "local_shape", "cheek-volume-incr"),
    _sides("Eye size", "Face shape", "local_shape", "eye-scale-incr"),
    _edit("Mouth width", "Face shape", "local_shape", "mouth-scale-horiz-incr"),
    _edit("Lip volume", "Face shape", "local_shape", "mouth-upperlip-volume-incr",
          "mouth-lowerlip-volume-incr"),
    _sides("Ear size", "Face shape", "local_shape", "ear-scale-incr"),
    _edit("Forehead height", "Face shape", "local_shape", "forehead-scale-vert-incr"),
    _edit("Head width", "Face shape", "local_shape", "head-scale-horiz-incr"),
    _sides("Smile", "Mouth", "expression", "mouthSmile"),
    _sides("Frown", "Mouth", "expression", "mouthFrown"),
    _edit("Jaw open", "Mouth", "expression", "jawOpen"),
    _edit("Pucker", "Mouth", "expression", "mouthPucker"),
    _edit("Cheek puff", "Mouth", "expression", "cheekPuff"),
    _edit("Tongue out", "Mouth", "expression", "tongueOut"),
    _sides("Blink", "Eyes and brows", "expression", "eyeBlink"),
    _sides("Squint", "Eyes and brows", "expression", "eyeSquint"),
    _sides("Eyes wide", "Eyes and brows", "expression", "eyeWide"),
    _edit("Brows raised", "Eyes and brows", "expression", "browInnerUp", "browOuterUpLeft",
          "browOuterUpRight"),
    _sides("Brows lowered", "Eyes and brows", "expression", "browDown"),
    _sides("Sneer", "Eyes and brows", "expression", "noseSneer"),
    _edit("Turn (yaw, degrees)", "Pose", "pose", "yaw"),
    _edit("Nod (pitch, degrees)", "Pose", "pose", "pitch"),
    _edit("Hair darkness (eumelanin)", HAIR_SECTION, "hair", "hair_eumelanin"),
    _edit("Hair redness (pheomelanin)", HAIR_SECTION, "hair", "hair_pheomelanin"),
    _edit("Grey hair", HAIR_SECTION, "hair", "hair_grey"),
    _edit("Hair volume", HAIR_SECTION, "hair", "hair_volume"),
    _edit("Hair length", HAIR_SECTION, "hair", "hair_length"),
    _edit("Buzz cut density", HAIR_SECTION, "hair", "scalp_density"),
    _edit("Brow thickness", HAIR_SECTION, "hair", "brow_thickness"),
    _edit("Brows darker than hair", HAIR_SECTION, "hair", "brow_eumelanin_shift"),
    _edit("Beard density", HAIR_SECTION, "hair", "beard_density"),
    _edit("Beard length", HAIR_SECTION, "hair", "beard_length"),
    _edit("Beard darker than hair", HAIR_SECTION, "hair", "beard_eumelanin_shift"),
    _edit("Teeth shade (white → yellow)", HAIR_SECTION, "hair", "teeth_shade"),
)
# The part style menus of the same section, in this order after the sliders.
STYLE_MENUS = (("Hair style", "hair"), ("Facial hair", "facial_hair"), ("Eyebrows", "eyebrows"),
               ("Eyelashes", "eyelashes"), ("Teeth", "teeth"))


def edit_values(model: HeadModel, head: HeadParams) -> list[float]:
    """The value of every edit control for a head, in `EDIT_CONTROLS` order."""
    return [round(control.read(model, head), 4) for control in EDIT_CONTROLS]


def style_values(head: HeadParams) -> list[str]:
    """The style of every menu for a head, in `STYLE_MENUS` order."""
    return [getattr(head.styles, kind) for _, kind in STYLE_MENUS]


def apply_edits(model: HeadModel, base: HeadParams, values: Mapping[str, float],
                styles: Mapping[str, str] | None = None) -> HeadParams:
    """`base` with each control (by label) moved to its new value and the part styles (by
    kind) replaced; controls within half a slider step of the base's value are left alone,
    so that untouched sliders (whose shown values are rounded) keep the base exactly,
    asymmetries included. An unknown style raises ValueError naming the known ones."""
    groups = {name: value.detach().clone() for name, value in base.groups()}
    for control in EDIT_CONTROLS:
        if control.label not in values:
            continue
        shift = float(values[control.label]) - control.read(model, base)
        if abs(shift) < control.step(model) / 2:
            continue
        spec = model.specs[control.group]
        for name in control.names:
            index = spec.index(name)
            low, high = spec.params[index].low, spec.params[index].high
            column = groups[control.group][:, index]
            groups[control.group][:, index] = (column + shift).clamp(low, high)
    head = HeadParams(**groups, texture=tuple(t.detach().clone() for t in base.texture),
                      styles=replace(base.styles, **styles) if styles else base.styles)
    model.validate(head)
    return head
