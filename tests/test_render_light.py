"""Light and colour: the tone curve, spherical-harmonic ambient light, skin and hair shading,
the studio rig, occlusion and catchlights; values against independent formulas, gradients
against central differences (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from render_reference import simple_lights

from text2head.render import (
    Cameras,
    Lights,
    linear_to_srgb,
    pbr_neutral,
    rasterize,
    render,
    shade,
    shade_hair,
    srgb_to_linear,
)
from text2head.render.catchlights import catchlights
from text2head.render.lights import gradient_ambient, sh_irradiance

DTYPE = torch.float64


def _uniform(generator: torch.Generator, low: float, high: float, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=generator, dtype=DTYPE)


# ----- tone -------------------------------------------------------------------------------------

def _khronos_neutral(color: np.ndarray) -> np.ndarray:
    """Khronos PBR Neutral, transcribed from the reference GLSL, one colour (3,) at a time."""
    start, desaturation = 0.8 - 0.04, 0.15
    x = color.min()
    offset = x - 6.25 * x * x if x < 0.08 else 0.04
    color = color - offset
    peak = color.max()
    if peak < start:
        return color
    d = 1 - start
    new_peak = 1 - d * d / (peak + d - start)
    color = color * (new_peak / peak)
    g = 1 - 1 / (desaturation * (peak - new_peak) + 1)
    return color * (1 - g) + new_peak * g


def test_pbr_neutral_matches_the_khronos_reference() -> None:
    colors = _uniform(torch.Generator().manual_seed(0), 0.0, 3.0, 200, 3)
    colors[:50] *= 0.05  # toes
    expected = np.stack([_khronos_neutral(c) for c in colors.numpy()])
    np.testing.assert_allclose(pbr_neutral(colors).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_pbr_neutral_only_shifts_colours_below_the_knee() -> None:
    # Below the knee (0.76 after the toe offset) hue and contrast are kept: every channel moves
    # by the same offset, 0.04 once the darkest channel is at least 0.08.
    colors = torch.tensor([[0.5, 0.5, 0.5], [0.79, 0.3, 0.1], [0.2, 0.6, 0.4]], dtype=DTYPE)
    torch.testing.assert_close(pbr_neutral(colors), colors - 0.04)
    dark = torch.tensor([[0.05, 0.2, 0.3]], dtype=DTYPE)
    torch.testing.assert_close(pbr_neutral(dark), dark - (0.05 - 6.25 * 0.05**2))


def test_pbr_neutral_maps_large_values_below_one_monotonically() -> None:
    grey = torch.logspace(-1, 3, 400, dtype=DTYPE)[:, None].expand(-1, 3)
    warm = grey * torch.tensor([1.0, 0.7, 0.4], dtype=DTYPE)
    for ramp in (grey, warm):
        out = pbr_neutral(ramp)
        assert (out < 1).all() and (out.diff(dim=0) > 0).all()
    assert pbr_neutral(grey)[-1, 0] > 0.99  # bright light still reaches white


@pytest.mark.parametrize("color", [
    (0.8, 0.5, 0.3),  # its peak lands exactly on the knee: the differences straddle it
    (0.75, 0.5, 0.3), (0.9, 0.2, 0.1), (3.0, 1.5, 0.05), (0.3, 0.07, 0.2), (0.5, 0.09, 0.08)])
def test_pbr_neutral_gradient_matches_finite_differences(color: tuple[float, ...]) -> None:
    assert torch.autograd.gradcheck(pbr_neutral, torch.tensor([color], dtype=DTYPE,
                                                              requires_grad=True))


def test_pbr_neutral_gradient_is_finite_where_the_unused_branch_is_singular() -> None:
    # After the 0.04 offset a peak of 0.52 zeroes the compressed branch's denominator; that
    # branch is not taken there, and must not leak NaN into the gradient (a run's head went
    # NaN through it).
    color = torch.tensor([[0.56, 0.3, 0.2]], dtype=torch.float64, requires_grad=True)
    pbr_neutral(color).sum().backward()
    assert torch.isfinite(color.grad).all()


def test_pbr_neutral_slope_is_continuous_across_the_knee() -> None:
    # One-sided slopes at the knee agree: the shoulder starts without a kink.
    slopes = [torch.autograd.functional.jacobian(pbr_neutral, torch.tensor(
        [[0.8 + step, 0.5, 0.3]], dtype=DTYPE))[0, :, 0, 0] for step in (-1e-9, 1e-9)]
    torch.testing.assert_close(slopes[0], slopes[1], rtol=0, atol=1e-6)


def test_srgb_encoding_round_trips_and_has_exact_gradients() -> None:
    srgb = torch.tensor([0.01, 0.03, 0.05, 0.3, 0.7, 0.98], dtype=DTYPE, requires_grad=True)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(srgb)), srgb)
    torch.testing.assert_close(srgb_to_linear(torch.tensor([0.5], dtype=DTYPE)),
                               torch.tensor([0.214041], dtype=DTYPE), rtol=0, atol=1e-6)
    linear = torch.tensor([0.001, 0.002, 0.01, 0.2, 0.9], dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(srgb_to_linear, srgb)
    assert torch.autograd.gradcheck(linear_to_srgb, linear)


# ----- ambient light ----------------------------------------------------------------------------

def _sphere_directions(n: int) -> np.ndarray:
    """n nearly uniform unit directions (a Fibonacci sphere)."""
    index = np.arange(n) + 0.5
    y = 1 - 2 * index / n
    phi = np.pi * (3 - np.sqrt(5)) * index
    radius = np.sqrt(1 - y * y)
    return np.stack([radius * np.cos(phi), y, radius * np.sin(phi)], 1)


def test_sky_over_floor_irradiance_matches_numerical_integration() -> None:
    # Radiance fading linearly from sky (straight up) to floor (straight down), integrated
    # against the cosine of the normal by quadrature, divided by pi.
    sky, floor = np.array([0.24, 0.25, 0.27]), np.array([0.09, 0.075, 0.06])
    ambient = gradient_ambient(torch.tensor(sky[None]), torch.tensor(floor[None]))
    normals = _sphere_directions(40)
    omega = _sphere_directions(40000)
    radiance = (sky + floor) / 2 + (sky - floor) / 2 * omega[:, 1:2]  # (K, 3)
    cosine = np.clip(normals @ omega.T, 0, None)  # (N, K)
    expected = cosine @ radiance * (4 * np.pi / len(omega)) / np.pi
    got = sh_irradiance(ambient.expand(len(normals), -1, -1), torch.tensor(normals))
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-3)
    assert got[normals[:, 1].argmax(), 0] > 1.5 * got[normals[:, 1].argmin(), 0]  # sky above


def test_sh_irradiance_gradients_match_finite_differences() -> None:
    generator = torch.Generator().manual_seed(1)
    coefficients = _uniform(generator, -0.1, 0.1, 5, 9, 3)
    coefficients[:, 0] += 1.0  # positive irradiance everywhere: no clamp
    normals = torch.randn(5, 3, generator=generator, dtype=DTYPE)

    def irradiance(c: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return sh_irradiance(c, torch.nn.functional.normalize(n, dim=-1))

    assert torch.autograd.gradcheck(irradiance, (coefficients.requires_grad_(True),
                                                 normals.requires_grad_(True)))


# ----- skin and hair ----------------------------------------------------------------------------

N_PIXELS = 6
CAMERAS = Cameras.look_at_orbit([0.0, 40.0], [10.0, -5.0], 0.6, 40.0, dtype=DTYPE)
VIEW = torch.tensor([0, 1, 0, 1, 0, 1])


def _shading_inputs(seed: int) -> dict[str, torch.Tensor]:
    """Pixels facing roughly toward their camera, under three lights per view."""
    generator = torch.Generator().manual_seed(seed)
    position = _uniform(generator, -0.05, 0.05, N_PIXELS, 3)
    toward_eye = CAMERAS.eye[VIEW] - position
    normal = torch.nn.functional.normalize(toward_eye, dim=-1) + _uniform(
        generator, -0.5, 0.5, N_PIXELS, 3)
    studio = Lights.studio(2, dtype=DTYPE)
    return {"albedo": _uniform(generator, 0.1, 0.9, N_PIXELS, 3), "normal": normal,
            "tangent": torch.randn(N_PIXELS, 3, generator=generator, dtype=DTYPE),
            "directions": studio.directions + _uniform(generator, -0.3, 0.3, 2, 3, 3),
            "colors": studio.colors * _uniform(generator, 0.5, 1.5, 2, 3, 3),
            "occlusion": _uniform(generator, 0.2, 0.9, N_PIXELS, 1), "position": position}


def _shade(albedo: torch.Tensor, normal: torch.Tensor, directions: torch.Tensor,
           colors: torch.Tensor, occlusion: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    lights = Lights(directions, colors, Lights.studio(2, dtype=DTYPE).ambient,
                    torch.tensor([1.0, 0.6], dtype=DTYPE))
    return shade(albedo, torch.nn.functional.normalize(normal, dim=-1), position, VIEW,
                 CAMERAS.eye, CAMERAS.rotation, lights, occlusion)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skin_shading_gradients_match_finite_differences(seed: int) -> None:
    inputs = _shading_inputs(seed)
    names = ("albedo", "normal", "directions", "colors", "occlusion")
    leaves = [inputs[name].requires_grad_(True) for name in names]
    assert torch.autograd.gradcheck(
        lambda *x: _shade(*x, position=inputs["position"]), leaves)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hair_shading_gradients_match_finite_differences(seed: int) -> None:
    inputs = _shading_inputs(seed)
    lights = Lights.studio(2, dtype=DTYPE)

    def strands(albedo: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
        return shade_hair(albedo, torch.nn.functional.normalize(inputs["normal"], dim=-1),
                          tangent, inputs["position"], VIEW, CAMERAS.eye, CAMERAS.rotation,
                          lights, inputs["occlusion"])

    assert torch.autograd.gradcheck(strands, (inputs["albedo"].requires_grad_(True),
                                              inputs["tangent"].requires_grad_(True)))


def test_gloss_scales_only_the_specular_light_with_exact_gradients() -> None:
    inputs = _shading_inputs(0)
    lights = Lights.studio(2, dtype=DTYPE)

    def radiance(albedo: torch.Tensor, gloss: torch.Tensor) -> torch.Tensor:
        return shade(albedo, torch.nn.functional.normalize(inputs["normal"], dim=-1),
                     inputs["position"], VIEW, CAMERAS.eye, CAMERAS.rotation, lights,
                     inputs["occlusion"], gloss)

    black = torch.zeros_like(inputs["albedo"])
    ones = torch.ones(N_PIXELS, 1, dtype=DTYPE)
    specular = radiance(black, ones)
    assert specular.max() > 0
    torch.testing.assert_close(radiance(black, 2 * ones), 2 * specular)
    diffuse = radiance(inputs["albedo"], ones) - specular
    torch.testing.assert_close(radiance(inputs["albedo"], 0 * ones), diffuse)
    gloss = (0.5 + ones * torch.rand(N_PIXELS, 1, dtype=DTYPE,
                                     generator=torch.Generator().manual_seed(3)))
    assert torch.autograd.gradcheck(radiance, (inputs["albedo"].requires_grad_(True),
                                               gloss.requires_grad_(True)))


def test_occlusion_darkens_ambient_light_but_not_all_direct_light() -> None:
    inputs = _shading_inputs(0)
    closed, open_ = torch.zeros(N_PIXELS, 1, dtype=DTYPE), torch.ones(N_PIXELS, 1, dtype=DTYPE)

    def radiance(lights: Lights, occlusion: torch.Tensor) -> torch.Tensor:
        return shade(inputs["albedo"], torch.nn.functional.normalize(inputs["normal"], dim=-1),
                     inputs["position"], VIEW, CAMERAS.eye, CAMERAS.rotation, lights, occlusion)

    ambient = simple_lights(ambient=0.5, dtype=DTYPE)
    assert (radiance(ambient, closed) == 0).all()
    # The SH constants are given to 6 digits.
    torch.testing.assert_close(radiance(ambient, open_), 0.5 * inputs["albedo"], rtol=1e-5,
                               atol=0)
    direct = simple_lights(30.0, 20.0, color=1.0, dtype=DTYPE)
    lit, shadowed = radiance(direct, open_), radiance(direct, closed)
    assert (lit > 0.05).all() and (shadowed > 0.5 * lit).all() and (shadowed < lit).all()


# ----- the studio rig ---------------------------------------------------------------------------

SPHERE = trimesh.creation.icosphere(subdivisions=4, radius=0.1)
SIZE = 96


def _sphere_image(lights: Lights) -> torch.Tensor:
    """(3, SIZE, SIZE) grey sphere seen from the front on black."""
    vertices = torch.tensor(SPHERE.vertices, dtype=torch.float32)[None]
    out = render(vertices, torch.tensor(SPHERE.faces), Cameras.look_at_orbit(0.0, 0.0, 0.6, 40.0),
                 vertex_colors=torch.full_like(vertices, 0.5), lights=lights, background=0.0,
                 resolution=SIZE)
    return out.rgb[0]


def _disc_coordinates() -> tuple[torch.Tensor, torch.Tensor]:
    """(SIZE, SIZE) x (right) and y (down) of each pixel centre from the sphere's centre, in
    radii of its disc."""
    radius = math.tan(math.asin(0.1 / 0.6)) / math.tan(math.radians(20)) * SIZE / 2
    centre = (torch.arange(SIZE) + 0.5 - SIZE / 2) / radius
    return centre[None, :].expand(SIZE, SIZE), centre[:, None].expand(SIZE, SIZE)


def _disc_radius() -> torch.Tensor:
    """(SIZE, SIZE) distance of each pixel centre from the sphere's centre, in its radii."""
    return torch.hypot(*_disc_coordinates())


def test_studio_key_lights_its_side_more_than_the_fill() -> None:
    # Bands above the sphere's equator, 0.3 to 0.8 radii right and left of the centre: the key
    # is 35 degrees to the right and 35 up, the fill (under half of it) 50 degrees to the left
    # and 10 up. Mirroring the rig swaps the sides.
    x, y = _disc_coordinates()
    right = (x > 0.3) & (x < 0.8) & (y > -0.6) & (y < -0.1)  # y grows downward
    left = right.flip(1)
    studio = Lights.studio()
    mirrored = Lights(studio.directions * torch.tensor([-1.0, 1.0, 1.0]), studio.colors,
                      studio.ambient, studio.specular)
    for lights, key_side, fill_side in ((studio, right, left), (mirrored, left, right)):
        image = _sphere_image(lights).mean(0)
        assert image[key_side].mean() > 1.05 * image[fill_side].mean()


def test_rim_light_brightens_the_silhouette_from_behind() -> None:
    studio = Lights.studio()
    no_rim = Lights(studio.directions, studio.colors * torch.tensor([[1.0], [1.0], [0.0]]),
                    studio.ambient, studio.specular)
    gain = (_sphere_image(studio) - _sphere_image(no_rim))[1]  # green: the least wrapped
    distance = _disc_radius()
    upper_left = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    upper_left[:SIZE // 2, :SIZE // 2] = True  # the rim is behind, to the left and above
    rim = (distance > 0.85) & (distance < 0.97) & upper_left
    centre = distance < 0.5
    assert gain[rim].mean() > 0.05
    assert gain[rim].mean() > 5 * gain[centre].mean()


# ----- catchlights ------------------------------------------------------------------------------

EYES = torch.tensor([[[-0.03, 0.0, 0.0, 0.012], [0.03, 0.0, 0.0, 0.012]]], dtype=DTYPE)
EYE_SIZE = 128


def _eye_mesh(lid: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The two eyeball spheres, optionally behind a lid: an opaque quad 1.5 radii in front."""
    parts = []
    for x, y, z, r in EYES[0].tolist():
        ball = trimesh.creation.icosphere(subdivisions=3, radius=r)
        ball.apply_translation([x, y, z])
        parts.append(ball)
    if lid:
        quad = trimesh.Trimesh([[-0.05, -0.02, 0.018], [0.05, -0.02, 0.018],
                                [0.05, 0.02, 0.018], [-0.05, 0.02, 0.018]],
                               [[0, 1, 2], [0, 2, 3]])
        parts.append(quad)
    mesh = trimesh.util.concatenate(parts)
    return torch.tensor(mesh.vertices, dtype=DTYPE)[None], torch.tensor(mesh.faces)


EYE_CAMERA = Cameras.look_at_orbit(0.0, 0.0, 0.25, 40.0, dtype=DTYPE)


def _glint_pixels() -> torch.Tensor:
    """(E, 2) screen x, y of the points where the key light reflects toward the front camera."""
    to_key = torch.nn.functional.normalize(Lights.studio(dtype=DTYPE).directions[0, 0], dim=0)
    centres, radius = EYES[0, :, :3], EYES[0, :, 3:]
    to_eye = torch.nn.functional.normalize(EYE_CAMERA.eye - centres, dim=-1)
    point = centres + radius * torch.nn.functional.normalize(to_key + to_eye, dim=-1)
    ndc = EYE_CAMERA.to_clip(point[None], 1.0)[0]
    ndc = ndc[:, :2] / ndc[:, 3:]
    return torch.stack([(ndc[:, 0] + 1) * EYE_SIZE / 2, (1 - ndc[:, 1]) * EYE_SIZE / 2], -1)


def _eye_render(lid: bool, eyes: torch.Tensor | None) -> torch.Tensor:
    vertices, faces = _eye_mesh(lid)
    return render(vertices, faces, EYE_CAMERA, vertex_colors=torch.full_like(vertices, 0.3),
                  eyes=eyes, background=0.0, resolution=EYE_SIZE).rgb[0]


def test_catchlight_shows_on_an_open_eye_and_hides_behind_a_lid() -> None:
    image = _eye_render(False, EYES)
    for x, y in _glint_pixels().tolist():
        column, row = int(x), int(y)
        patch = image[:, row - 3:row + 4, column - 3:column + 4].amin(0)
        assert patch[3, 3] == patch.max() > 0.9, (x, y)  # a near-white local maximum
        assert image[:, row, column].amin() > _eye_render(False, None)[:, row, column].amax()
    assert torch.equal(_eye_render(True, EYES), _eye_render(True, None))


def test_catchlight_gradients_match_finite_differences() -> None:
    vertices, faces = _eye_mesh()
    clip = EYE_CAMERA.to_clip(vertices, 1.0)
    fragments = rasterize(clip, faces, EYE_SIZE, EYE_SIZE)
    weights = torch.rand(1, EYE_SIZE, EYE_SIZE, generator=torch.Generator().manual_seed(0),
                         dtype=DTYPE)
    studio = Lights.studio(dtype=DTYPE)

    def weighted(eyes: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        directions = torch.cat([key, studio.directions[:, 1:]], dim=1)
        lights = Lights(directions, studio.colors, studio.ambient, studio.specular)
        glints = catchlights(eyes, EYE_CAMERA, lights, fragments)
        return (glints * weights).sum()

    eyes, key = EYES.clone().requires_grad_(True), studio.directions[:, :1].clone()
    assert weighted(eyes, key) > 0.1, "the glints must be visible"
    assert torch.autograd.gradcheck(weighted, (eyes, key.requires_grad_(True)))
