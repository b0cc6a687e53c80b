"""Ambient occlusion of head scenes: where it is dark, what strands let through, and when the
bake is reused (text2head.heads.occlusion)."""

from __future__ import annotations

import sys

import pytest
import torch

from text2head.heads.appearance import sample_texture
from text2head.heads.occlusion import ORIGIN_OFFSET, RAYS, REACH, ambient_occlusion, hemisphere
from text2head.heads.scene import SceneComposer


def with_jaw(model, head, value: float):
    expression = head.expression.clone()
    expression[:, model.specs["expression"].names.index("jawOpen")] = value
    return head.with_group("expression", expression)


@pytest.fixture(scope="module")
def neutral(head_model):
    return head_model.scene(head_model.neutral())


@pytest.fixture(scope="module")
def regions(head_model, neutral):
    """Boolean masks over the head's vertices, found on the neutral head from the asset's
    region masks and from geometry."""
    model, count = head_model, len(head_model.template)
    vertices, normals = neutral.vertices[0, :count], neutral.normals[0, :count]
    x, y, z = vertices.T
    masks = {name: sample_texture(mask[None, None], model.vertex_uvs)[0, :, 0] > 0.5
             for name, mask in zip(model.albedo.regions, model.albedo.masks, strict=True)}
    skin = model.skin_mask
    midline = skin & (x.abs() < 0.005)
    tip = vertices[torch.nonzero(midline)[z[midline].argmax()]][0]
    lips = masks["lips"]
    ears = masks["ears"] & skin
    brow_vertices = neutral.faces[neutral.part_faces["eyebrows"]].unique()
    brow_top = neutral.vertices[0, brow_vertices, 1].max()
    return {
        "inside_mouth": masks["inside_mouth"],
        "sclera": masks["sclera"],
        # the underside of the nose around the nostrils
        "nostrils": skin & (y < tip[1] - 0.005) & (y > tip[1] - 0.03) & (x.abs() < 0.02)
        & (z > tip[2] - 0.03) & (normals[:, 1] < -0.5),
        "mouth_corners": lips & (x.abs() > x[lips].abs().max() - 0.004),
        "behind_ears": skin & ~ears & (torch.cdist(vertices, vertices[ears]).min(1).values
                                      < 0.008) & (z < vertices[ears, 2].mean() - 0.01),
        "forehead": skin & (normals[:, 2] > 0.8) & (y > brow_top + 0.01) & (x.abs() < 0.03),
        "cheek": skin & masks["cheeks"] & (normals[:, 2] > 0.6),
    }


def mean_over(occlusion, mask):
    return float(occlusion[0, : len(mask)][mask].mean())


def test_occlusion_is_per_vertex_detached_and_in_unit_range(head_model, neutral):
    head = head_model.neutral()
    head.identity.requires_grad_(True)
    scene = head_model.scene(head)
    assert scene.occlusion.shape == scene.vertices.shape[:2]
    assert scene.occlusion.dtype == scene.vertices.dtype
    assert not scene.occlusion.requires_grad
    assert scene.occlusion.min() >= 0 and scene.occlusion.max() <= 1
    assert scene.render_kwargs()["occlusion"] is scene.occlusion
    assert torch.equal(scene.occlusion, neutral.occlusion)


@pytest.mark.parametrize("region", ["inside_mouth", "sclera", "nostrils", "mouth_corners",
                                    "behind_ears"])
def test_concave_places_are_darker_than_open_skin(neutral, regions, region):
    assert regions[region].sum() >= 5
    open_skin = min(mean_over(neutral.occlusion, regions["cheek"]),
                    mean_over(neutral.occlusion, regions["forehead"]))
    assert open_skin > 0.95
    assert mean_over(neutral.occlusion, regions[region]) < open_skin - 0.15


def test_a_fringe_darkens_the_forehead(head_model, neutral, regions):
    fringe = head_model.scene(head_model.neutral().with_styles(hair="bob01"))
    bald = mean_over(neutral.occlusion, regions["forehead"])
    assert mean_over(fringe.occlusion, regions["forehead"]) < bald - 0.3


def test_the_jaw_blend_follows_the_opening(head_model, regions):
    composer = SceneComposer(head_model)
    head = head_model.neutral()
    # A head with its jaw open bakes both extremes; moving the jaw then needs no new bake.
    half, closed, opened = (composer.compose(h, head_model.decode(h)) for h in
                            (with_jaw(head_model, head, j) for j in (0.5, 0.0, 1.0)))
    assert composer.occlusion.bakes == 1
    mouth = regions["inside_mouth"]
    change = (opened.occlusion[0, : len(mouth)] - closed.occlusion[0, : len(mouth)])[mouth]
    assert change.abs().mean() > 0.05
    assert torch.allclose(half.occlusion, (closed.occlusion + opened.occlusion) / 2, atol=1e-6)
    exact = ambient_occlusion(opened.vertices, opened.faces, opened.hair_faces)
    assert torch.allclose(opened.occlusion, exact, atol=1e-5)


def test_a_closed_jaw_bakes_the_scene_as_it_is_until_the_jaw_opens(head_model):
    composer = SceneComposer(head_model)
    head = head_model.neutral()
    closed = composer.compose(head, head_model.decode(head))
    exact = ambient_occlusion(closed.vertices, closed.faces, closed.hair_faces)
    assert torch.allclose(closed.occlusion, exact, atol=1e-5)
    opened = with_jaw(head_model, head, 1.0)
    composer.compose(opened, head_model.decode(opened))
    assert composer.occlusion.bakes == 2


def test_the_cache_bakes_only_when_the_shape_moves(head_model):
    composer = SceneComposer(head_model)

    def occlusion(head):
        return composer.compose(head, head_model.decode(head)).occlusion

    head = head_model.neutral()
    first = occlusion(head)
    assert torch.equal(occlusion(head), first)
    turned = head.with_group("pose", head.pose + torch.tensor([[20.0, 10.0, 0.0]]))
    assert torch.equal(occlusion(turned), first)  # a turned head is lit the same
    names = head_model.specs["identity"].names
    heavier = head.identity.clone()
    heavier[:, names.index("weight")] = 1.0  # moves the neutral head's vertices < 0.1 mm
    assert torch.equal(occlusion(head.with_group("identity", heavier)), first)
    assert composer.occlusion.bakes == 1
    feminine = head.identity.clone()
    feminine[:, names.index("gender")] = 1.0  # moves some vertices 15 mm
    other = head.with_group("identity", feminine)
    assert not torch.equal(occlusion(other), first)
    assert composer.occlusion.bakes == 2
    assert torch.equal(occlusion(head), first)  # both heads stay cached
    assert composer.occlusion.bakes == 2


def test_strand_cards_let_half_the_light_through():
    """A small floor under a wide card 2 cm up: an opaque card occludes by the falloff, a
    strand card by half of it."""
    floor = [[-0.005, -0.005, 0.0], [0.005, -0.005, 0.0], [0.005, 0.005, 0.0],
             [-0.005, 0.005, 0.0]]
    card = [[-0.4, -0.4, 0.02], [0.4, -0.4, 0.02], [0.4, 0.4, 0.02], [-0.4, 0.4, 0.02]]
    vertices = torch.tensor([floor + card]) + torch.tensor([0.0, 0.0, 0.5])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    cover = torch.tensor([False, False, True, True])
    opaque = ambient_occlusion(vertices, faces, torch.zeros(4, dtype=torch.bool))[0, :4]
    strands = ambient_occlusion(vertices, faces, cover)[0, :4]
    alone = ambient_occlusion(vertices, faces[:2], torch.zeros(2, dtype=torch.bool))[0, :4]
    cosines = torch.from_numpy(hemisphere(RAYS)[:, 2]).float()
    gap = 0.02 - ORIGIN_OFFSET  # rays start just off the floor
    expected = 1 - (1 - (gap / cosines / REACH).clamp(max=1) ** 2).mean()
    assert torch.allclose(alone, torch.ones(4))
    assert torch.allclose(opaque, expected.expand(4), atol=1e-3)
    assert torch.allclose(1 - strands, (1 - opaque) / 2, atol=1e-3)


def test_a_card_does_not_occlude_itself():
    """A card folded like a V, open away from the head's centre: its crease sees the sky as a
    strand, but its own arms block it when it is opaque."""
    crease = [[-0.05, 0.0, 0.5], [0.05, 0.0, 0.5]]
    arms = [[-0.05, -0.02, 0.52], [0.05, -0.02, 0.52], [-0.05, 0.02, 0.52], [0.05, 0.02, 0.52]]
    vertices = torch.tensor([crease + arms])
    faces = torch.tensor([[0, 2, 3], [0, 3, 1], [0, 1, 5], [0, 5, 4]])
    # 32 rays: the V's arms are narrow enough for the 16 default directions to miss them.
    as_strand = ambient_occlusion(vertices, faces, torch.ones(4, dtype=torch.bool), 32)[0, :2]
    as_skin = ambient_occlusion(vertices, faces, torch.zeros(4, dtype=torch.bool), 32)[0, :2]
    assert torch.allclose(as_strand, torch.ones(2))
    assert (as_skin < 0.9).all()


def test_a_missing_embreex_is_named(monkeypatch, neutral):
    monkeypatch.setitem(sys.modules, "trimesh.ray.ray_pyembree", None)
    with pytest.raises(ImportError, match="embreex"):
        ambient_occlusion(neutral.vertices, neutral.faces, neutral.hair_faces)
