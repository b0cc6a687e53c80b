"""Soft cards and Kajiya-Kay hair shading: coverage against a compositing ray caster, the limits
of fully transparent and fully opaque cards, gradients, the hair highlight, and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from render_reference import composited_coverage, orbit_rays, simple_lights

from text2head.render import Cameras, Lights, RenderOutput, rasterize, render
from text2head.render.layers import MIN_COVERAGE
from text2head.render.shading import _PRIMARY_SHIFT

HEIGHT, WIDTH = 72, 96
DISTANCE, FOV = 0.6, 40.0


def _card(size: float, z: float, quads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A square grid of quads in the plane z facing +Z, UV (0, 0) bottom-left to (1, 1)."""
    ramp = torch.linspace(-size / 2, size / 2, quads + 1, dtype=torch.float64)
    ys, xs = torch.meshgrid(ramp, ramp, indexing="ij")
    vertices = torch.stack([xs, ys, torch.full_like(xs, z)], -1).reshape(-1, 3)
    corner = (torch.arange(quads)[:, None] * (quads + 1) + torch.arange(quads)).reshape(-1)
    a, b, c, d = corner, corner + 1, corner + quads + 2, corner + quads + 1
    faces = torch.cat([torch.stack([a, b, c], 1), torch.stack([a, c, d], 1)])
    corner_uvs = (vertices[faces][..., :2] / size + 0.5).float()
    return vertices.float(), faces, corner_uvs


def _sphere_and_card(alpha: torch.Tensor) -> dict[str, torch.Tensor]:
    """An opaque sphere behind a 3 x 3-quad card; one RGBA texture whose left half is the card's
    (alpha as given, (Ht, Wt)) and whose right half is opaque grey for the sphere. The card's
    corners sit on the centres of its tile's corner texels, so that its bilinear lookups never
    reach into the sphere's tile."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    card_vertices, card_faces, card_uvs = _card(0.3, 0.13, 3)
    n_sphere = len(sphere.vertices)
    vertices = torch.cat([torch.tensor(sphere.vertices, dtype=torch.float32), card_vertices])
    faces = torch.cat([torch.tensor(sphere.faces), card_faces + n_sphere])
    height, width = alpha.shape
    sphere_uvs = torch.full((len(sphere.faces), 3, 2), 0.5)
    sphere_uvs[..., 0] = 0.75
    tile_uvs = (0.5 + card_uvs * torch.tensor([width - 1, height - 1])) / torch.tensor(
        [2 * width, height])
    corner_uvs = torch.cat([sphere_uvs, tile_uvs])
    rgb = torch.rand(3, height, 2 * width, generator=torch.Generator().manual_seed(0))
    texture = torch.cat([rgb, torch.cat([alpha, torch.ones_like(alpha)], 1)[None]])[None]
    cutout_faces = torch.arange(len(faces)) >= len(sphere.faces)
    return {"vertices": vertices, "faces": faces, "corner_uvs": corner_uvs, "texture": texture,
            "cutout_faces": cutout_faces}


def _without_card(scene: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The scene's sphere alone (its faces keep their indices)."""
    card = scene["cutout_faces"]
    return {**scene, "faces": scene["faces"][~card], "corner_uvs": scene["corner_uvs"][~card],
            "cutout_faces": card[~card]}


def _stripes_and_checker() -> torch.Tensor:
    """8 x 8 alpha: a checkerboard in the top half, vertical stripes in the bottom half."""
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    return torch.where(i < 4, (i + j) % 2, j % 2).float()


VIEWS = [(0.0, 0.0), (25.0, -15.0), (-40.0, 20.0), (160.0, 10.0)]  # the last sees the back
# The card is magnified (about 9 pixels a texel), so every fragment reads level 0 of the coverage
# pyramid bilinearly, as the reference does. They differ by the fragments dropped as invisible
# (coverage under MIN_COVERAGE) and float32 rounding of the UVs (about 1e-5 here).
COVERAGE_TOLERANCE = MIN_COVERAGE + 1e-4


@pytest.mark.parametrize(("yaw", "pitch"), VIEWS)
def test_card_coverage_matches_compositing_ray_caster(yaw: float, pitch: float) -> None:
    scene = _sphere_and_card(_stripes_and_checker())
    cameras = Cameras.look_at_orbit(yaw, pitch, DISTANCE, FOV)
    out = render(scene["vertices"][None], scene["faces"], cameras,
                 corner_uvs=scene["corner_uvs"], texture=scene["texture"],
                 cutout_faces=scene["cutout_faces"], resolution=(HEIGHT, WIDTH),
                 antialiased=False, background=0.0)
    origin, directions = orbit_rays(yaw, pitch, DISTANCE, FOV, HEIGHT, WIDTH)
    expected = composited_coverage(
        scene["vertices"].numpy(), scene["faces"].numpy(), origin, directions,
        scene["cutout_faces"].numpy(), scene["corner_uvs"].numpy().astype(np.float64),
        scene["texture"][0, 3].numpy().astype(np.float64), front_only=True)
    soft = (expected > 0.05) & (expected < 0.95)
    assert soft.mean() > 0.05 and (expected == 1).mean() > 0.05, "the view must show both"
    error = np.abs(out.alpha[0, 0].reshape(-1).numpy() - expected)
    assert error.max() <= COVERAGE_TOLERANCE, f"{(error > COVERAGE_TOLERANCE).sum()} pixels"


def _render_scene(scene: dict[str, torch.Tensor], yaw: float, **kwargs) -> RenderOutput:
    return render(scene["vertices"][None], scene["faces"],
                  Cameras.look_at_orbit(yaw, 10.0, DISTANCE, FOV),
                  corner_uvs=scene["corner_uvs"], texture=scene["texture"],
                  resolution=(HEIGHT, WIDTH), **kwargs)


def _assert_same(a: RenderOutput, b: RenderOutput) -> None:
    for name in ("rgb", "alpha", "depth", "triangle_id"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("yaw", [0.0, 30.0, 170.0])
def test_transparent_card_renders_as_the_scene_without_it(yaw: float) -> None:
    scene = _sphere_and_card(torch.zeros(8, 8))
    _assert_same(_render_scene(scene, yaw, cutout_faces=scene["cutout_faces"]),
                 _render_scene(_without_card(scene), yaw))


def _card_pixels(out: RenderOutput, card: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: where a render that draws the card as opaque geometry shows it."""
    return (out.triangle_id >= 0) & card[out.triangle_id.clamp(min=0)]


@pytest.mark.parametrize("yaw", [0.0, 30.0])
def test_opaque_card_hides_what_is_behind_it(yaw: float) -> None:
    # Where the card is, the soft render shows exactly what the card drawn as opaque geometry
    # shows (no contour blending there, so that render is not antialiased): nothing behind it.
    scene = _sphere_and_card(torch.ones(8, 8))
    soft = _render_scene(scene, yaw, cutout_faces=scene["cutout_faces"])
    plain = _render_scene(scene, yaw, antialiased=False)
    card = _card_pixels(plain, scene["cutout_faces"])
    assert card.float().mean() > 0.3
    torch.testing.assert_close(soft.rgb.permute(0, 2, 3, 1)[card],
                               plain.rgb.permute(0, 2, 3, 1)[card], rtol=0, atol=1e-5)
    assert (soft.alpha[:, 0][card] == 1).all()


def test_each_view_uses_its_own_texture() -> None:
    scene = _sphere_and_card(torch.ones(8, 8))
    textures = scene["texture"].repeat(2, 1, 1, 1)
    textures[0, 3, :, :8] = 0  # the card's tile is transparent in the first view only
    out = render(scene["vertices"][None], scene["faces"],
                 Cameras.look_at_orbit([0.0, 0.0], 10.0, DISTANCE, FOV),
                 corner_uvs=scene["corner_uvs"], texture=textures,
                 cutout_faces=scene["cutout_faces"], resolution=(HEIGHT, WIDTH))
    sphere = _render_scene(_without_card(scene), 0.0)
    # Batched and single views may round differently by an ulp.
    torch.testing.assert_close(out.rgb[0], sphere.rgb[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(out.alpha[0], sphere.alpha[0], rtol=0, atol=1e-6)
    assert (out.rgb[1] != sphere.rgb[0]).any(0).float().mean() > 0.3


def test_card_is_seen_from_behind_while_back_faces_are_culled() -> None:
    scene = _sphere_and_card(torch.ones(8, 8))
    card = scene["cutout_faces"]
    plain = _render_scene(scene, 180.0)
    soft = _render_scene(scene, 180.0, cutout_faces=card)
    assert not _card_pixels(plain, card).any()
    assert ((soft.alpha == 1) & (plain.alpha == 0)).float().mean() > 0.05


def test_new_arguments_off_change_nothing() -> None:
    # All-False masks take the new code paths and must reproduce the default call to the bit,
    # gradients included.
    scene = _sphere_and_card(torch.ones(8, 8))
    cameras = Cameras.look_at_orbit([0.0, 40.0], [10.0, -5.0], DISTANCE, FOV)
    lights = Lights.random(torch.Generator().manual_seed(3), 2)
    weights = torch.rand(2, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(4))
    none = torch.zeros(len(scene["faces"]), dtype=torch.bool)
    results = []
    for extra in ({}, {"cutout_faces": none, "hair_faces": none,
                       "tangents": torch.ones(1, len(scene["vertices"]), 3)}):
        vertices = scene["vertices"][None].clone().requires_grad_(True)
        texture = scene["texture"][:, :3] if not extra else scene["texture"]
        texture = texture.clone().requires_grad_(True)
        out = render(vertices, scene["faces"], cameras, corner_uvs=scene["corner_uvs"],
                     texture=texture, lights=lights, resolution=(HEIGHT, WIDTH), **extra)
        gradients = torch.autograd.grad((out.rgb * weights).sum() + out.alpha.sum(),
                                        (vertices, texture))
        results.append((out, gradients[0], gradients[1][:, :3]))
    (plain, *plain_gradients), (masked, *masked_gradients) = results
    _assert_same(plain, masked)
    assert all(torch.equal(a, b) for a, b in zip(plain_gradients, masked_gradients, strict=True))


def test_batched_views_render_as_single_views() -> None:
    # Every input that may be per view is: lights, occlusion, eyes and textures; a pixel's
    # result must not depend on which other views share the batch.
    scene = _sphere_and_card(_stripes_and_checker())
    generator = torch.Generator().manual_seed(6)
    yaw, pitch = [0.0, 35.0, 150.0], [10.0, -5.0, 20.0]
    lights = Lights.random(generator, 3)
    n_vertices = len(scene["vertices"])
    per_view = {"texture": scene["texture"] * torch.rand(3, 4, 1, 1, generator=generator),
                "occlusion": 0.3 + 0.7 * torch.rand(3, n_vertices, generator=generator),
                "eyes": torch.tensor([[[-0.04, 0.02, 0.09, 0.012]]]).repeat(3, 1, 1)
                + 0.01 * torch.rand(3, 1, 4, generator=generator)}

    def views(index: slice) -> RenderOutput:
        view_lights = Lights(*(getattr(lights, name)[index] for name in
                               ("directions", "colors", "ambient", "specular")))
        return render(scene["vertices"][None], scene["faces"],
                      Cameras.look_at_orbit(yaw[index], pitch[index], DISTANCE, FOV),
                      corner_uvs=scene["corner_uvs"], cutout_faces=scene["cutout_faces"],
                      lights=view_lights, resolution=(HEIGHT, WIDTH),
                      **{name: value[index] for name, value in per_view.items()})

    batched = views(slice(None))
    for index in range(3):
        single = views(slice(index, index + 1))
        for name in ("rgb", "alpha", "depth"):
            torch.testing.assert_close(getattr(batched, name)[index:index + 1],
                                       getattr(single, name), rtol=0, atol=1e-6)
        assert torch.equal(batched.triangle_id[index:index + 1], single.triangle_id)


def test_rasterizer_spans_hold_every_pixel_the_edge_test_accepts() -> None:
    # Row spans only narrow down which pixels get the exact edge test; coverage must equal a
    # brute-force evaluation of the same float32 edge functions at every pixel centre of the
    # triangle's bounding box, also for slivers, axis-aligned edges through pixel centres and
    # huge triangles.
    generator = torch.Generator().manual_seed(0)
    size = 24  # not a power of two: screen coordinates pick up rounding

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    sliver, direction = uniform(200, 1, 2) * size, 30 * normal(200, 1, 2)
    corner = torch.floor(uniform(200, 1, 2) * size) + 0.5
    sides = torch.floor(uniform(200, 1, 2) * 9) + 1
    triangles = [
        uniform(200, 3, 2) * 30 - 3,  # ordinary, some over the border
        torch.floor(uniform(200, 3, 2) * size) + 0.5,  # corners on pixel centres
        (uniform(200, 3, 2) - 0.5) * 10 ** (uniform(200, 1, 1) * 8),  # up to huge
        torch.cat([sliver, sliver + direction,  # slivers
                   sliver + direction * (1 + 1e-4 * normal(200, 1, 1)) + 1e-4 * normal(200, 1, 2)],
                  1),
        torch.cat([corner, corner + sides * torch.tensor([1.0, 0.0]),  # axis-aligned edges
                   corner + sides * torch.tensor([0.0, 1.0])], 1),
    ]
    corners = torch.cat(triangles)
    w = torch.cat([0.5 + uniform(200, 3, 1), torch.ones(200, 3, 1), 0.5 + uniform(400, 3, 1),
                   torch.ones(200, 3, 1)])
    ndc = torch.stack([corners[..., 0] / size * 2 - 1, 1 - corners[..., 1] / size * 2], -1)
    clip = torch.cat([ndc * w, torch.zeros_like(w), w], -1)
    fragments = rasterize(clip, torch.tensor([[0, 1, 2]]), size, size, cull_backfaces=False)

    screen = fragments.screen  # what the rasterizer sees after the perspective divide
    origin = screen[:, 0]
    edge1, edge2 = screen[:, 1] - origin, screen[:, 2] - origin
    area = edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0]
    gradients = torch.stack([edge2[:, 1], -edge2[:, 0], -edge1[:, 1], edge1[:, 0]], -1)
    g = (gradients / area[:, None])[:, :, None, None]
    pixel = torch.arange(size, dtype=torch.float32)
    dx = pixel[None, None, :] + 0.5 - origin[:, 0, None, None]
    dy = pixel[None, :, None] + 0.5 - origin[:, 1, None, None]
    l1, l2 = g[:, 0] * dx + g[:, 1] * dy, g[:, 2] * dx + g[:, 3] * dy
    low = (screen.amin(1).clamp(-1, size + 1) - 0.5).ceil()[:, :, None, None]
    high = (screen.amax(1).clamp(-1, size + 1) - 0.5).floor()[:, :, None, None]
    in_box = ((pixel[None, None, :] >= low[:, 0]) & (pixel[None, None, :] <= high[:, 0])
              & (pixel[None, :, None] >= low[:, 1]) & (pixel[None, :, None] <= high[:, 1]))
    inside = ((l1 >= -1e-6) & (l2 >= -1e-6) & (l1 + l2 <= 1 + 1e-6) & in_box
              & (area != 0)[:, None, None])
    assert inside.any(2).any(1).float().mean() > 0.5
    assert torch.equal(fragments.triangle_id >= 0, inside)


def _blended(scene: dict[str, torch.Tensor], yaw: float, **kwargs) -> torch.Tensor:
    """(H, W) mask of the pixels that antialiasing changes."""
    images = [_render_scene(scene, yaw, antialiased=antialiased, **kwargs).rgb
              for antialiased in (True, False)]
    return (images[0] != images[1]).any(1)[0]


@pytest.mark.parametrize("yaw", [0.0, 35.0])
def test_antialiasing_blends_opaque_contours_only(yaw: float) -> None:
    # Strands 4 texels wide on a 64 x 64 alpha texture, with a 1-texel border that is either
    # transparent or an opaque frame. A soft card's edges come from its coverage: contour
    # blending changes only the sphere's own contour, whereas the same card drawn as opaque
    # geometry gets its outline blended.
    column = torch.arange(64) // 4 % 2 == 0
    strands = column.expand(64, 64).clone()
    strands[[0, -1]] = strands[:, [0, -1]] = False
    framed = strands.clone()
    framed[[0, -1]] = framed[:, [0, -1]] = True
    sphere_contour = _blended(_without_card(_sphere_and_card(torch.ones(8, 8))), yaw)
    assert (_blended(_sphere_and_card(torch.ones(64, 64)), yaw) & ~sphere_contour).sum() > 20
    for alpha in (strands, framed):
        scene = _sphere_and_card(alpha.float())
        blended = _blended(scene, yaw, cutout_faces=scene["cutout_faces"])
        assert blended.any() and not (blended & ~sphere_contour).any()


def _hair_cylinder(quads_around: int = 48) -> dict[str, torch.Tensor]:
    """A half cylinder of radius 0.1 around the x axis, facing +Z, whose strands run around it
    (like hair over the crown): tangents along the circumference, from -80 to 80 degrees."""
    angle = torch.deg2rad(torch.linspace(-80.0, 80.0, quads_around + 1, dtype=torch.float64))
    xs = torch.tensor([-0.1, 0.0, 0.1], dtype=torch.float64)
    phi, x = torch.meshgrid(angle, xs, indexing="ij")
    vertices = torch.stack([x, 0.1 * torch.sin(phi), 0.1 * torch.cos(phi)], -1).reshape(-1, 3)
    tangents = torch.stack([torch.zeros_like(phi), torch.cos(phi), -torch.sin(phi)], -1)
    corner = (torch.arange(quads_around)[:, None] * 3 + torch.arange(2)).reshape(-1)
    a, b, c, d = corner, corner + 1, corner + 4, corner + 3
    faces = torch.cat([torch.stack([a, b, c], 1), torch.stack([a, c, d], 1)])
    return {"vertices": vertices[None], "faces": faces, "tangents": tangents.reshape(1, -1, 3)}


def _light(elevation: float, azimuth: float = 0.0, specular: float = 0.5) -> Lights:
    """One light in the camera frame at the given angles; dim ambient."""
    return simple_lights(elevation, azimuth, color=0.8, ambient=0.1, specular=specular,
                         dtype=torch.float64)


SIZE = 128
FAR, NARROW = 3.0, 6.0  # a distant camera: the view direction is nearly +Z everywhere


def _highlight(cylinder: dict[str, torch.Tensor], elevation: float,
               azimuth: float = 0.0) -> torch.Tensor:
    """The specular part (SIZE, SIZE) of the hair's image: render with and without it."""
    images = []
    for specular in (0.5, 0.0):
        out = render(cylinder["vertices"], cylinder["faces"],
                     Cameras.look_at_orbit(0.0, 0.0, FAR, NARROW, dtype=torch.float64),
                     vertex_colors=torch.full_like(cylinder["vertices"], 0.5),
                     lights=_light(elevation, azimuth, specular),
                     hair_faces=torch.ones(len(cylinder["faces"]), dtype=torch.bool),
                     tangents=cylinder["tangents"], resolution=SIZE, antialiased=False)
        images.append(out.rgb[0, 0])
    return images[0] - images[1]


def test_hair_highlight_is_a_band_that_follows_the_light() -> None:
    # Kajiya-Kay's highlight peaks where the strand is perpendicular to the halfway vector: for
    # a camera on +Z and a light at elevation e, at the angle e / 2 around the cylinder, less the
    # tilt atan(0.1) of the primary lobe's tangent toward the roots.
    cylinder = _hair_cylinder()
    focal = SIZE / 2 / math.tan(math.radians(NARROW / 2))  # pixels
    rows = []
    for elevation in (20.0, 60.0):
        band = _highlight(cylinder, elevation)
        row = int(band[:, SIZE // 2].argmax())
        angle = math.radians(elevation / 2) + math.atan(_PRIMARY_SHIFT)
        expected = SIZE / 2 - focal * 0.1 * math.sin(angle) / (FAR - 0.1 * math.cos(angle))
        assert abs(row + 0.5 - expected) < 2.0, (elevation, row, expected)
        # A band: as bright across the whole width of the cylinder.
        columns = band[row, SIZE // 2 - 15:SIZE // 2 + 15]
        assert columns.min() > 0.9 * columns.max()
        rows.append(row)
    assert rows[1] < rows[0] - 10  # a higher light moves the band up


def test_hair_highlight_is_anisotropic() -> None:
    # Moving the light 60 degrees sideways keeps a strand highlight almost as bright: some point
    # of each strand is still perpendicular to the halfway vector. An isotropic lobe of the same
    # exponent would fall to cos(30 deg) ** 60, about 2e-4.
    cylinder = _hair_cylinder()
    front, side = _highlight(cylinder, 30.0), _highlight(cylinder, 30.0, azimuth=60.0)
    assert side.max() > 0.6 * front.max() > 0.02


def test_back_of_a_hair_card_is_visible_and_lit_from_the_camera_side() -> None:
    cylinder = _hair_cylinder()
    hair = torch.ones(len(cylinder["faces"]), dtype=torch.bool)
    out = render(cylinder["vertices"], cylinder["faces"],
                 Cameras.look_at_orbit(180.0, 0.0, 0.6, 40.0, dtype=torch.float64),
                 vertex_colors=torch.full_like(cylinder["vertices"], 0.5),
                 lights=_light(0.0, specular=0.0), hair_faces=hair,
                 tangents=cylinder["tangents"], resolution=64, background=0.0)
    covered = out.triangle_id[0] >= 0
    assert covered.float().mean() > 0.1
    # A headlight on the flipped (camera-side) normals: well above the ambient 0.1 * 0.5.
    assert out.rgb[0, 0][covered].median() > 0.2


SPHERE_FACES = torch.tensor(trimesh.creation.icosphere(subdivisions=2).faces)


def _hair_card_inputs() -> dict[str, torch.Tensor]:
    """A bent, textured, vertex-coloured hair card in front of a sphere (float64 leaves)."""
    generator = torch.Generator().manual_seed(0)
    cylinder = _hair_cylinder(quads_around=6)
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.06)
    card = cylinder["vertices"][0] * torch.tensor([0.6, 0.6, 0.6], dtype=torch.float64)
    vertices = torch.cat([torch.tensor(sphere.vertices), card + torch.tensor([0.0, 0.0, 0.04])])
    n_sphere = len(sphere.vertices)
    # Every fourth column a gap; coverage kept off 0 and 1, where it is clamped (a kink). Only
    # 4 texels high, so that the coverage pyramid has one level: the level is picked without
    # gradient (as mip levels on GPUs are), so moving vertices must not change it.
    alpha = 0.02 + 0.96 * (torch.arange(16) % 4 != 0).double().expand(4, 16)
    rgb = 0.2 + 0.6 * torch.rand(3, 4, 16, generator=generator, dtype=torch.float64)
    faces = torch.cat([SPHERE_FACES, _hair_cylinder(quads_around=6)["faces"] + n_sphere])
    corner_uvs = (vertices[:, :2] / 0.12 + 0.5)[faces].clamp(0.02, 0.98)  # a planar projection
    return {
        "vertices": vertices[None],
        "corner_uvs": corner_uvs,
        "vertex_colors": 0.5 + 0.5 * torch.rand(1, len(vertices), 3, generator=generator,
                                                dtype=torch.float64),
        "texture": torch.cat([rgb, alpha[None]])[None],
        "tangents": torch.cat([torch.zeros(n_sphere, 3, dtype=torch.float64),
                               cylinder["tangents"][0]])[None],
        "n_sphere": torch.tensor(n_sphere),
    }


def _hair_card_render(inputs: dict[str, torch.Tensor]) -> RenderOutput:
    card_faces = _hair_cylinder(quads_around=6)["faces"] + int(inputs["n_sphere"])
    faces = torch.cat([SPHERE_FACES, card_faces])
    card = torch.arange(len(faces)) >= len(SPHERE_FACES)
    default = Lights.default(2, dtype=torch.float64)
    lights = Lights(default.directions, default.colors, default.ambient,
                    torch.full((2,), 0.4, dtype=torch.float64))
    return render(inputs["vertices"], faces,
                  Cameras.look_at_orbit([0.0, 30.0], [10.0, -10.0], 0.4, 40.0,
                                        dtype=torch.float64),
                  corner_uvs=inputs["corner_uvs"], texture=inputs["texture"],
                  vertex_colors=inputs["vertex_colors"], lights=lights, cutout_faces=card,
                  hair_faces=card, tangents=inputs["tangents"], resolution=40,
                  background=(0.2, 0.4, 0.6))


STEP, RTOL, ATOL = 1e-7, 1e-5, 1e-4
HAIR_WEIGHTS = torch.rand(2, 4, 40, 40, generator=torch.Generator().manual_seed(2),
                          dtype=torch.float64)


def _hair_loss(out: RenderOutput) -> torch.Tensor:
    return (torch.cat([out.rgb, out.alpha], 1) * HAIR_WEIGHTS).sum()


@pytest.mark.parametrize("name", ["vertex_colors", "texture", "coverage", "vertices", "tangents"])
def test_hair_gradients_match_finite_differences(name: str) -> None:
    # Through the composited cards: colour, coverage (the texture's fourth channel alone) and
    # the card's vertices, which move its UVs under the pixels.
    inputs = _hair_card_inputs()
    key = "texture" if name == "coverage" else name
    direction = torch.randn(inputs[key].shape, generator=torch.Generator().manual_seed(5),
                            dtype=torch.float64)
    if name in ("vertices", "tangents", "vertex_colors"):
        direction[:, :int(inputs["n_sphere"])] = 0  # the hair card's own entries only
    if name == "coverage":
        direction[:, :3] = 0
    transparent = inputs["texture"].clone()
    transparent[:, 3] = 0
    out = _hair_card_render(inputs)
    card = (out.rgb != _hair_card_render({**inputs, "texture": transparent}).rgb).any(1)
    assert card.float().mean() > 0.05, "the views must show the hair card"
    inputs[key].requires_grad_(True)
    (gradient,) = torch.autograd.grad(_hair_loss(_hair_card_render(inputs)), inputs[key])
    analytic = (gradient * direction).sum().item()
    with torch.no_grad():
        plus = _hair_card_render({**inputs, key: inputs[key] + STEP * direction})
        minus = _hair_card_render({**inputs, key: inputs[key] - STEP * direction})
    assert torch.equal(plus.triangle_id, minus.triangle_id), "step changed visibility"
    numeric = ((_hair_loss(plus) - _hair_loss(minus)) / (2 * STEP)).item()
    assert abs(numeric) > 100 * ATOL, "the check needs a direction the image depends on"
    assert analytic == pytest.approx(numeric, rel=RTOL, abs=ATOL)


def test_bad_card_inputs_are_named() -> None:
    scene = _sphere_and_card(torch.ones(8, 8))
    cameras = Cameras.named_views(["front"])
    common = {"corner_uvs": scene["corner_uvs"], "texture": scene["texture"]}
    vertices, faces = scene["vertices"][None], scene["faces"]
    with pytest.raises(ValueError, match="cutout_faces"):
        render(vertices, faces, cameras, cutout_faces=scene["cutout_faces"][1:], **common)
    with pytest.raises(ValueError, match="cutout_faces"):
        render(vertices, faces, cameras, cutout_faces=scene["cutout_faces"].long(), **common)
    with pytest.raises(ValueError, match="cutout_faces.*fourth channel"):
        render(vertices, faces, cameras, corner_uvs=scene["corner_uvs"],
               texture=scene["texture"][:, :3], cutout_faces=scene["cutout_faces"])
    with pytest.raises(ValueError, match="cutout_faces.*fourth channel"):
        render(vertices, faces, cameras, cutout_faces=scene["cutout_faces"])
    with pytest.raises(ValueError, match="tangents"):
        render(vertices, faces, cameras, hair_faces=scene["cutout_faces"],
               tangents=torch.ones(1, len(scene["vertices"]) - 1, 3), **common)
    with pytest.raises(ValueError, match="tangents"):
        render(vertices, faces, cameras, hair_faces=scene["cutout_faces"], **common)
    with pytest.raises(ValueError, match="hair_faces"):
        render(vertices, faces, cameras, hair_faces=torch.ones(3, dtype=torch.bool),
               tangents=torch.ones_like(vertices), **common)
    with pytest.raises(ValueError, match="texture"):
        render(vertices, faces, cameras, corner_uvs=scene["corner_uvs"],
               texture=scene["texture"][:, :2])
