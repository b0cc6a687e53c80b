"""The head's textures read as a person's: skin zones, wrinkles, eyes, brows, strand tiles.

Finite-difference checks for every differentiable term, and behaviour checks of the look.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from text2head.heads import HeadModel
from text2head.heads.skin_detail import wrinkle_weight
from text2head.heads.strands import FINE_STRANDS, HAIR_STRANDS, strand_tile

SIZE = 64


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return HeadModel()


def test_skin_modulation_gradients_match_finite_differences(model):
    """Zones, blotches and cavity multiply the skin colour: d texel / d (melanin, gender,
    age) agrees with a central difference."""
    head = model.neutral().to(torch.float64)
    index = model.specs["appearance"].index("skin_melanin")
    skin = model.look.skin

    def texel_sum(melanin, gender, age):
        appearance = head.appearance.clone()
        appearance[:, index] = melanin
        identity = head.identity.clone()
        identity[:, 0], identity[:, 1] = gender, age
        modulation = model.look.modulation(identity, SIZE)
        return model.albedo.texture(appearance, head.texture, SIZE, modulation)[:, :, 30:50,
                                                                                 32:].sum()

    inputs = tuple(torch.tensor([v], dtype=torch.float64, requires_grad=True)
                   for v in (0.3, 0.4, 0.9))
    assert torch.autograd.gradcheck(texel_sum, inputs, eps=1e-5, atol=1e-5, rtol=1e-3)
    assert skin.maps(SIZE)["zones"].std(axis=1).min() > 0  # every zone paints something


def test_eye_colours_keep_their_meaning_and_gradient(model):
    head = model.neutral().to(torch.float64)
    names = [model.specs["appearance"].index(f"iris_{c}") for c in ("red", "green", "blue")]
    size = 256
    iris_only = model.albedo.masks[model.albedo.regions.index("iris")]
    iris_only = torch.nn.functional.interpolate(iris_only[None, None].double(), size=size,
                                                mode="bilinear", antialias=True)[0, 0] > 0.9

    def iris_mean(colour):
        appearance = head.appearance.clone()
        appearance[:, names] = colour
        modulation = model.look.modulation(head.identity, size)
        texture = model.albedo.texture(appearance, head.texture, size, modulation)
        return texture[0][:, iris_only].mean(dim=1)

    colour = torch.tensor([[0.25, 0.45, 0.65]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(iris_mean, (colour,), eps=1e-5, atol=1e-5, rtol=1e-3)
    # The iris parameter is still the iris's mean colour (within the lid shadow's loss).
    mean = iris_mean(colour.detach())
    assert torch.allclose(mean, colour[0].detach(), atol=0.08), mean


def test_sclera_is_off_white_and_darker_at_the_corners(model):
    radius, *_ = model.look.eyes.polar
    gain = model.look.eyes.gain  # on the sclera colour, outside the iris
    near = (radius > 1.05) & (radius < 1.3)
    corners = (radius > 2.2) & (radius < 2.6)
    assert gain[:, corners].mean() < gain[:, near].mean() - 0.08
    # Corners are redder: blue loses more than red.
    assert gain[2, corners].mean() < gain[0, corners].mean()
    head = model.neutral()
    with torch.no_grad():
        texture = model.decode(head, texture_size=1024).texture[0].numpy()
    visible = (radius > 1.05) & (radius < 2.2)
    assert texture[:, visible].mean() < 0.88  # not paper white (the parameter is 0.93)


def test_limbal_ring_is_darker_than_mid_iris(model):
    radius, *_ = model.look.eyes.polar
    gain = model.look.eyes.gain.mean(axis=0)
    ring = (radius > 0.9) & (radius < 0.98)
    mid = (radius > 0.55) & (radius < 0.75)
    assert gain[ring].mean() < 0.75 * gain[mid].mean()


def test_wrinkles_deepen_with_age_and_normals_are_unit(model):
    age = torch.tensor([0.0, 1.0])
    normals = model.look.detail_normal_map(age, 256)
    decoded = normals * 2 - 1
    assert torch.allclose(decoded.norm(dim=1), torch.ones(1), atol=1e-5)
    assert (decoded[:, 2] > 0).all()
    flat = torch.tensor([0.5, 0.5, 1.0])[:, None, None]
    wrinkles = np.abs(model.look.skin.maps(256)["wrinkle_slope"]).sum(axis=0) > 0.05
    assert 0.001 < wrinkles.mean() < 0.05  # forehead, eye corners and folds, not everywhere
    deviation = (normals - flat).abs().sum(dim=1)[:, torch.from_numpy(wrinkles)].mean(dim=1)
    assert deviation[1] > 2 * deviation[0]
    assert float(wrinkle_weight(torch.tensor(2 / 3))) < 0.2  # young adults barely wrinkle


def test_detail_normal_gradient_in_age(model):
    def normals(age):
        return model.look.detail_normal_map(age, SIZE)[:, :, 20:40].sum()

    age = torch.tensor([0.8], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(normals, (age,), eps=1e-5, atol=1e-5, rtol=1e-3)


def test_brow_and_lash_paint_follow_the_brow_colour(model):
    head = model.neutral().to(torch.float64)
    head.styles = head.styles.__class__(**{**head.styles.__dict__, "eyebrows": "eyebrow001"})
    texture = model.albedo.texture(head.appearance, head.texture, 128).detach()

    def painted(brow):
        colours = {"eyebrows": brow, "eyelashes": 0.5 * brow}
        return model.look.paint_brows_and_lashes(texture, "eyebrow001", colours).sum()

    brow = torch.tensor([[0.2, 0.15, 0.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(painted, (brow,), eps=1e-5, atol=1e-5, rtol=1e-3)
    lashes = model.look._mask("lashes", 1024, torch.zeros(1))
    brows = model.look._mask("eyebrow001", 1024, torch.zeros(1))
    assert lashes.max() > 0.5 and brows.max() > 0.8
    # Two lid-long lines a few texels wide (~300 texels each at 1024), not the socket.
    assert 200 < int((lashes > 0.1).sum()) < 1000


def test_soft_beard_alpha_has_a_density_gradient(model):
    composer = model._scenes

    def coverage(density):
        return composer._beard_tile(64, density)[:, 3].mean()

    density = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(coverage, (density,), eps=1e-4, atol=1e-5, rtol=1e-3)
    alpha = composer._beard_tile(256, torch.tensor([0.6]))[0, 3]
    fractional = ((alpha > 0.05) & (alpha < 0.95)).float().mean()
    assert fractional > 0.05  # soft fibre edges
    assert abs(float(alpha.mean()) - (0.25 + 0.6 * 0.6)) < 0.03  # same coverage as before


# Mean alpha of the seed-3 tiles at 256 with hard strand ends (before tapered tips).
@pytest.mark.parametrize(("style", "hard_ends_coverage"),
                         [(HAIR_STRANDS, 0.677), (FINE_STRANDS, 0.290)])
def test_strand_tiles_are_soft_with_dark_roots(style, hard_ends_coverage):
    luminance, alpha = strand_tile(256, style, seed=3)
    fractional = ((alpha > 0.05) & (alpha < 0.95)).mean()
    assert fractional > 0.1
    # No single-texel salt: isolated covered texels (no covered neighbour) are rare.
    covered = alpha > 0.05
    neighbours = sum(np.roll(covered, s, a) for s in (1, -1) for a in (0, 1))
    assert (covered & (neighbours == 0)).mean() < 0.002
    weights = alpha.sum(axis=1)
    root = (luminance * alpha)[:40].sum() / weights[:40].sum()
    middle = (luminance * alpha)[120:160].sum() / weights[120:160].sum()
    assert root < middle - 0.1
    assert abs(alpha.mean() / hard_ends_coverage - 1) < 0.1


def test_t_zone_is_glossier_than_the_cheeks(model):
    """The specular scale per vertex: nose tip and mid forehead above the cheeks."""
    template, gloss = model.template, model.look.gloss
    skin = model.component == 0
    nose_tip = torch.where(skin, template[:, 2], -1.0).argmax()
    eye_height = template[model.component == 2, 1].mean()
    forehead = torch.where(skin & (template[:, 1] > eye_height + 0.04) & (template[:, 2] > 0.05),
                           -template[:, 0].abs(), -1.0).argmax()
    cheek = (template - template.new_tensor([0.05, float(eye_height) - 0.03, 0.06])).norm(
        dim=1).masked_fill(~skin, 1.0).argmin()
    assert gloss[nose_tip] > gloss[cheek] + 0.3
    assert gloss[forehead] > gloss[cheek] + 0.3
    assert ((gloss >= 0.7) & (gloss <= 1.4)).all()
