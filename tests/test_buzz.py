"""The buzz cut (issue 17, part 3): a shaved scalp painted into the skin like stubble, in the
hair colour at `scalp_density`, above a plausible hairline; asked for by "shaved head",
"buzz cut", "crew cut", while "bald" stays bare skin; kept by params.json and the GLB."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pygltflib
import pytest
import torch
from gltf_validator import assert_valid_glb
from PIL import Image

from text2head.edits import apply_edits
from text2head.export import export_glb
from text2head.heads import HeadModel, HeadParams
from text2head.heads.appearance import sample_texture
from text2head.heads.build_parts import vertex_mask_values
from text2head.heads.model import BUZZ_SHADE, DEFAULT_ASSET
from text2head.heads.parts import BUZZ
from text2head.instant import instant_head
from text2head.understand import understand

MASK_SIZE = 512  # the asset's UV masks; decoding at this size paints them texel for texel
GLB_TEXTURE = MASK_SIZE // 2


def buzz(model: HeadModel, **hair: float) -> HeadParams:
    """The neutral head with a buzz cut and the named hair parameters set."""
    head = model.neutral().with_styles(hair=BUZZ)
    for name, value in hair.items():
        head.hair[0, model.specs["hair"].index(name)] = value
    return head


def texture(model: HeadModel, head: HeadParams, size: int = MASK_SIZE) -> torch.Tensor:
    with torch.no_grad():
        return model.decode(head, size).texture[0]


def test_buzz_darkens_the_scalp_toward_its_hair_colour_and_leaves_the_face(head_model):
    head = buzz(head_model, hair_eumelanin=0.9)
    bald = head.with_styles(hair="none")  # the same hair colour: brows and lashes follow it
    painted, bare = texture(head_model, head), texture(head_model, bald)
    region = head_model.parts.scalp_mask(BUZZ)
    target = BUZZ_SHADE * head_model.part_colours(head.hair)["hair"][0][:, None, None]
    scalp = region > 0.5
    assert int(scalp.sum()) > 5000
    closer = ((bare - target).norm(dim=0) - (painted - target).norm(dim=0))[scalp]
    assert float(closer.min()) > 0 and float(closer.mean()) > 0.15
    assert float(painted.mean(0)[scalp].mean()) < float(bare.mean(0)[scalp].mean()) - 0.1
    assert torch.equal(painted[:, region == 0], bare[:, region == 0])
    assert head_model.decode(head).parts.keys() == head_model.decode(bald).parts.keys()


def test_hairline_spares_the_face_ears_and_neck_and_covers_the_scalp(head_model):
    """The region at the neutral head's skin vertices, against landmarks of that head."""
    with torch.no_grad():
        decoded = head_model.decode(head_model.neutral())
    vertices = decoded.vertices[0]
    weight = sample_texture(head_model.parts.scalp_mask(BUZZ)[None, None],
                            head_model.vertex_uvs)[0, :, 0]
    with np.load(DEFAULT_ASSET) as data:
        arrays = {key: data[key] for key in ("mask_names", "masks", "template", "faces",
                                             "corner_uvs")}
    skin = head_model.skin_mask.clone()
    skin[head_model.n_original_vertices:] = False
    x, y, z = vertices.T
    ears = skin & torch.from_numpy(vertex_mask_values(arrays, "ears") > 0.5)
    brows = float(decoded.parts["eyebrows"].vertices[0, :, 1].mean())
    ear_front, ear_bottom = float(z[ears].max()), float(y[ears].min())
    face = skin & (z > ear_front + 0.045) & (y < brows + 0.03)  # in front of the temples
    neck = skin & (y < ear_bottom - 0.045)  # the nape hairline is 2 cm below the ears
    crown = skin & (y > brows + 0.08)
    back = skin & (z < float(z[ears].min()) - 0.02) & (y > ear_bottom) & (x.abs() < 0.03)
    for name, region in (("face", face), ("ears", ears), ("neck", neck)):
        assert int(region.sum()) > 20 and float(weight[region].max()) < 0.05, name
    for name, region in (("crown", crown), ("back of the head", back)):
        assert int(region.sum()) > 20 and float(weight[region].min()) > 0.9, name


def test_density_zero_is_bare_skin_and_density_darkens(head_model):
    bare = texture(head_model, head_model.neutral())
    assert torch.equal(texture(head_model, buzz(head_model, scalp_density=0.0)), bare)
    scalp = head_model.parts.scalp_mask(BUZZ) > 0.5
    light, dense = (texture(head_model, buzz(head_model, scalp_density=d)).mean(0)[scalp]
                    for d in (0.3, 1.0))
    assert float(light.mean()) > float(dense.mean()) + 0.1


def test_density_and_colour_gradients_match_finite_differences(head_model):
    """d(texture)/d(scalp_density) and d/d(hair_eumelanin) by autograd vs central differences
    (float64)."""
    model = head_model.double()
    try:
        head = buzz(model).map(lambda t: t.double())
        weights = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)).double()
        for name in ("scalp_density", "hair_eumelanin"):
            index = model.specs["hair"].index(name)

            def loss(value: torch.Tensor, index: int = index) -> torch.Tensor:
                hair = head.hair.clone()
                hair[0, index] = value
                return (model.decode(head.with_group("hair", hair), 64).texture
                        * weights).sum()

            value = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
            loss(value).backward()
            eps = 1e-5
            numeric = (loss(torch.tensor(0.6 + eps, dtype=torch.float64))
                       - loss(torch.tensor(0.6 - eps, dtype=torch.float64))) / (2 * eps)
            assert abs(float(value.grad)) > 1.0, name
            assert float(value.grad) == pytest.approx(float(numeric), rel=1e-4), name
    finally:
        head_model.float()


def test_buzz_and_its_density_round_trip_through_params_json(head_model):
    head = buzz(head_model, scalp_density=0.35)
    again = head_model.from_json(head_model.to_json(head))
    assert again.styles.hair == BUZZ and torch.equal(again.hair, head.hair)
    older = json.loads(head_model.to_json(head))
    del older["hair"]["scalp_density"]  # a file written before buzz cuts existed
    loaded = head_model.from_dict(older)
    index = head_model.specs["hair"].index("scalp_density")
    assert float(loaded.hair[0, index]) == pytest.approx(0.7)


def _base_colour(path) -> np.ndarray:
    """(H, W, 3) the base colour texture of the GLB's "head" material."""
    gltf = pygltflib.GLTF2().load(path)
    material = next(m for m in gltf.materials if m.name == "head")
    image = gltf.images[gltf.textures[material.pbrMetallicRoughness.baseColorTexture.index]
                        .source]
    view = gltf.bufferViews[image.bufferView]
    data = gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255


def test_glb_is_valid_and_carries_the_painted_scalp(head_model, tmp_path):
    head = buzz(head_model, hair_eumelanin=0.9)
    meshes = head_model.to_meshes(head, texture_size=GLB_TEXTURE)
    assert "hair" not in {mesh.name for mesh in meshes}
    path = export_glb(meshes, tmp_path / "buzz.glb")
    assert_valid_glb(path)
    painted = _base_colour(path)
    # The same export with the bald head's albedo (the geometry and its occlusion are the
    # same: a buzz cut has no cards), converted as the exporter converts it.
    albedo = texture(head_model, head.with_styles(hair="none"), GLB_TEXTURE)
    bald = (albedo.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    bare = _base_colour(export_glb([dataclasses.replace(meshes[0], texture=bald), *meshes[1:]],
                                   tmp_path / "bald.glb"))
    # Halving the mask (antialiased bilinear) reads the source texels 2i-1 ... 2i+2.
    region = head_model.parts.scalp_mask(BUZZ)[None, None]
    reach = torch.nn.functional.max_pool2d(region, 4, stride=2, padding=1)[0, 0].numpy()
    core = -torch.nn.functional.max_pool2d(-region, 4, stride=2, padding=1)[0, 0].numpy()
    assert painted[core > 0.5].mean() < bare[core > 0.5].mean() - 0.1
    assert np.array_equal(painted[reach == 0], bare[reach == 0])


@pytest.mark.parametrize(("prompt", "style"), [
    ("shaved head", BUZZ), ("buzz cut", BUZZ), ("crew cut", BUZZ),
    ("a man with a buzzcut", BUZZ), ("a bald man", "none")])
def test_prompts_ask_for_a_buzz_cut_and_bald_stays_bare(head_model, prompt, style):
    assert instant_head(head_model, understand(prompt)).styles.hair == style


def test_studio_offers_buzz_and_its_density(head_model):
    assert BUZZ in head_model.known_styles["hair"]
    edited = apply_edits(head_model, head_model.neutral(), {"Buzz cut density": 0.2},
                         {"hair": BUZZ})
    assert edited.styles.hair == BUZZ
    assert float(edited.hair[0, head_model.specs["hair"].index("scalp_density")]) == (
        pytest.approx(0.2))


def test_random_heads_get_buzz_cuts_of_varied_density(head_model):
    heads = [head_model.sample(torch.Generator().manual_seed(seed)) for seed in range(60)]
    density = torch.stack([h.hair[0, head_model.specs["hair"].index("scalp_density")]
                           for h in heads])
    assert any(h.styles.hair == BUZZ for h in heads)
    assert float(density.min()) >= 0.4 and float(density.max()) <= 1.0
    assert float(density.std()) > 0.1
