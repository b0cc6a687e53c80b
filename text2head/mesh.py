"""Plain-data mesh container shared by the head model, the exporters and previews.

Kept free of torch so that exporters and other tools can build one from any source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TexturedMesh:
    """One triangle mesh with a UV texture, vertex colours and optional morph targets.

    Conventions: metres, +Y up, the face looks toward +Z. UVs are per face corner in the
    OBJ/OpenGL convention (origin at the bottom-left of the image, v pointing up); `texture`
    row 0 is the top of the image. Colours are sRGB in [0, 1].
    """

    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from outside
    corner_uvs: np.ndarray  # (F, 3, 2) float32
    normals: np.ndarray  # (V, 3) float32, unit length
    vertex_colors: np.ndarray  # (V, 3) float32 sRGB in [0, 1]
    texture: np.ndarray  # (H, W, 3) uint8 sRGB
    morph_names: list[str] = field(default_factory=list)
    morph_deltas: np.ndarray | None = None  # (K, V, 3) float32 vertex offsets per target
    morph_weights: np.ndarray | None = None  # (K,) float32 default weights in [0, 1]

    def __post_init__(self) -> None:
        n_vertices = len(self.vertices)
        _check_shape("vertices", self.vertices, (n_vertices, 3))
        _check_shape("faces", self.faces, (len(self.faces), 3))
        _check_shape("corner_uvs", self.corner_uvs, (len(self.faces), 3, 2))
        _check_shape("normals", self.normals, (n_vertices, 3))
        _check_shape("vertex_colors", self.vertex_colors, (n_vertices, 3))
        if self.texture.ndim != 3 or self.texture.shape[2] != 3 or self.texture.dtype != np.uint8:
            raise ValueError(f"texture must be (H, W, 3) uint8, got {self.texture.shape} "
                             f"{self.texture.dtype}")
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


def _check_shape(name: str, array: np.ndarray, expected: tuple[int, ...]) -> None:
    if array.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
