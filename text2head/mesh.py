"""Plain-data mesh container shared by the head model, the exporters and previews.

Kept free of torch so that exporters and other tools can build one from any source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class TexturedMesh:
    """One triangle mesh with a UV texture, vertex colours and optional morph targets.

    A head is exported as several of these parts (head, hair, teeth, ...), told apart by
    `name`, which becomes a node, material and file name, so it is kept to letters, digits,
    `_` and `-`. An RGBA texture marks a cut-out part (hair strands, lashes): texels with
    alpha below one half are holes.

    Conventions: metres, +Y up, the face looks toward +Z. UVs are per face corner in the
    OBJ/OpenGL convention (origin at the bottom-left of the image, v pointing up); `texture`
    row 0 is the top of the image. Colours are sRGB in [0, 1].

    The optional look carried into exports: ambient `occlusion` per vertex (1 = open), the
    same occlusion baked into the part's UV layout (`occlusion_texture`, only for parts whose
    UVs do not repeat, so that each texel belongs to one place), a tangent-space detail
    `normal_texture` in glTF's encoding (xyz * 0.5 + 0.5, +Y along +v), and the `eye_faces`
    that are drawn with a glossy, wet material instead of the part's own.
    """

    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from outside
    corner_uvs: np.ndarray  # (F, 3, 2) float32
    normals: np.ndarray  # (V, 3) float32, unit length
    vertex_colors: np.ndarray  # (V, 3) float32 sRGB in [0, 1]
    texture: np.ndarray  # (H, W, 3) uint8 sRGB, or (H, W, 4) with alpha for cut-outs
    morph_names: list[str] = field(default_factory=list)
    morph_deltas: np.ndarray | None = None  # (K, V, 3) float32 vertex offsets per target
    morph_weights: np.ndarray | None = None  # (K,) float32 default weights in [0, 1]
    name: str = "head"
    occlusion: np.ndarray | None = None  # (V,) float32 in [0, 1], 1 = nothing occludes
    occlusion_texture: np.ndarray | None = None  # (H, W) uint8, 255 = nothing occludes
    normal_texture: np.ndarray | None = None  # (H, W, 3) uint8 tangent-space normals
    eye_faces: np.ndarray | None = None  # (F,) bool, the faces of the eyeballs

    @property
    def cutout(self) -> bool:
        """Whether the texture's alpha cuts holes into the surface (an RGBA texture)."""
        return self.texture.shape[2] == 4

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"name must be letters, digits, '_' or '-', got {self.name!r}")
        n_vertices = len(self.vertices)
        _check_shape("vertices", self.vertices, (n_vertices, 3))
        _check_shape("faces", self.faces, (len(self.faces), 3))
        _check_shape("corner_uvs", self.corner_uvs, (len(self.faces), 3, 2))
        _check_shape("normals", self.normals, (n_vertices, 3))
        _check_shape("vertex_colors", self.vertex_colors, (n_vertices, 3))
        texture = self.texture
        if texture.ndim != 3 or texture.shape[2] not in (3, 4) or texture.dtype != np.uint8:
            raise ValueError(f"texture must be (H, W, 3) or (H, W, 4) uint8, got "
                             f"{texture.shape} {texture.dtype}")
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= n_vertices):
            raise ValueError("faces index vertices that do not exist")
        n_morphs = len(self.morph_names)
        if n_morphs:
            if self.morph_deltas is None or self.morph_weights is None:
                raise ValueError("morph_names given without morph_deltas and morph_weights")
            _check_shape("morph_deltas", self.morph_deltas, (n_morphs, n_vertices, 3))
            _check_shape("morph_weights", self.morph_weights, (n_morphs,))
        for name in ("vertices", "normals", "vertex_colors", "corner_uvs"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} contains NaN or inf")
        self._check_look(n_vertices)

    def _check_look(self, n_vertices: int) -> None:
        """The optional occlusion, normal map and eye faces: shapes, types and ranges."""
        if self.occlusion is not None:
            _check_shape("occlusion", self.occlusion, (n_vertices,))
            if not (np.isfinite(self.occlusion).all() and (self.occlusion >= 0).all()
                    and (self.occlusion <= 1).all()):
                raise ValueError("occlusion must be finite and in [0, 1]")
        for name, channels in (("occlusion_texture", ()), ("normal_texture", (3,))):
            image = getattr(self, name)
            if image is not None and (image.dtype != np.uint8 or image.ndim != 2 + len(channels)
                                      or image.shape[2:] != channels or 0 in image.shape):
                raise ValueError(f"{name} must be a non-empty (H, W{', 3' * len(channels)}) "
                                 f"uint8 image, got {image.shape} {image.dtype}")
        if self.eye_faces is not None:
            _check_shape("eye_faces", self.eye_faces, (len(self.faces),))
            if self.eye_faces.dtype != np.bool_:
                raise ValueError(f"eye_faces must be bool, got {self.eye_faces.dtype}")


def _check_shape(name: str, array: np.ndarray, expected: tuple[int, ...]) -> None:
    if array.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
