"""Analytic gradients of the renderer against central finite differences.

Everything runs in float64 with steps small enough that no pixel changes triangle (asserted) and
that a texel border (a kink of bilinear lookups) is rarely straddled, so the rendered image is a
smooth function of the inputs and the two derivatives must agree within RTOL relative error (plus
ATOL for rounding).
"""

from __future__ import annotations

import math

import pytest
import torch
import trimesh
from render_reference import head_stand_in

from text2head.render import Cameras, Lights, RenderOutput, render

RTOL = 1e-5
STEP = 1e-8
ATOL = 1e-3  # float64 rounding of a loss of ~1e4 divided by 2 * STEP is ~1e-4
SIZE = 40
DTYPE = torch.float64


def _inputs() -> dict[str, torch.Tensor]:
    """A small textured, vertex-coloured sphere; the leaf tensors gradients are checked for."""
    generator = torch.Generator().manual_seed(0)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    n_vertices = len(sphere.vertices)
    return {
        "vertices": torch.tensor(sphere.vertices, dtype=DTYPE)[None] * 0.1,
        "texture": torch.rand(1, 3, 16, 16, generator=generator, dtype=DTYPE),
        "vertex_colors": 0.5 + 0.5 * torch.rand(1, n_vertices, 3, generator=generator,
                                                dtype=DTYPE),
        "light_directions": Lights.default(2, dtype=DTYPE).directions.clone(),
        "light_colors": Lights.default(2, dtype=DTYPE).colors.clone(),
        "occlusion": 0.3 + 0.7 * torch.rand(1, n_vertices, generator=generator, dtype=DTYPE),
    }


FACES = torch.tensor(trimesh.creation.icosphere(subdivisions=2).faces)
CORNER_UVS = 0.1 + 0.8 * torch.rand(len(FACES), 3, 2, generator=torch.Generator().manual_seed(1),
                                    dtype=DTYPE)
CAMERAS = Cameras.look_at_orbit([0.0, 30.0], [0.0, 10.0], distance=0.5, fov=40.0, dtype=DTYPE)
WEIGHTS = torch.rand(2, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(2), dtype=DTYPE)


def _render(inputs: dict[str, torch.Tensor], antialiased: bool = True) -> RenderOutput:
    lights = Lights(inputs["light_directions"], inputs["light_colors"],
                    Lights.default(2, dtype=DTYPE).ambient, torch.full((2,), 0.3, dtype=DTYPE))
    return render(inputs["vertices"], FACES, CAMERAS, corner_uvs=CORNER_UVS,
                  texture=inputs["texture"], vertex_colors=inputs["vertex_colors"],
                  lights=lights, occlusion=inputs["occlusion"], background=(0.2, 0.4, 0.6),
                  resolution=SIZE, antialiased=antialiased)


def _loss(out: RenderOutput) -> torch.Tensor:
    return (torch.cat([out.rgb, out.alpha], 1) * WEIGHTS).sum()


def _check_directional_derivative(name: str, direction: torch.Tensor) -> float:
    """Assert d loss / d inputs[name] along `direction` matches central differences; return it."""
    inputs = _inputs()
    inputs[name].requires_grad_(True)
    (gradient,) = torch.autograd.grad(_loss(_render(inputs)), inputs[name])
    analytic = (gradient * direction).sum().item()
    with torch.no_grad():
        plus = _render({**inputs, name: inputs[name] + STEP * direction})
        minus = _render({**inputs, name: inputs[name] - STEP * direction})
    assert torch.equal(plus.triangle_id, minus.triangle_id), "step changed visibility"
    numeric = ((_loss(plus) - _loss(minus)) / (2 * STEP)).item()
    assert abs(numeric) > 100 * ATOL, "the check needs a direction the image depends on"
    assert analytic == pytest.approx(numeric, rel=RTOL, abs=ATOL)
    return analytic


def _random_like(name: str, seed: int) -> torch.Tensor:
    return torch.randn(_inputs()[name].shape, generator=torch.Generator().manual_seed(seed),
                       dtype=DTYPE)


@pytest.mark.parametrize("name", ["vertices", "texture", "vertex_colors", "light_directions",
                                  "light_colors", "occlusion"])
def test_gradient_matches_finite_differences(name: str) -> None:
    _check_directional_derivative(name, _random_like(name, seed=3))


def _contour_vertex() -> torch.Tensor:
    """Unit outward image-plane motion of a vertex on the front view's silhouette: one whose
    faces include both front- and back-facing ones, the rightmost of those."""
    vertices = _inputs()["vertices"][0]
    corners = vertices[FACES]
    normals = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    eye = torch.tensor([0.0, 0.0, 0.5], dtype=DTYPE)  # the front camera of CAMERAS
    front = ((eye - corners.mean(1)) * normals).sum(-1) > 0
    touches_front = torch.zeros(len(vertices), dtype=torch.bool)
    touches_back = torch.zeros(len(vertices), dtype=torch.bool)
    touches_front[FACES[front].reshape(-1)] = True
    touches_back[FACES[~front].reshape(-1)] = True
    on_contour = torch.nonzero(touches_front & touches_back).squeeze(1)
    index = on_contour[vertices[on_contour, 0].argmax()]
    outward = torch.zeros_like(vertices)
    outward[index, :2] = torch.nn.functional.normalize(vertices[index, :2], dim=0)
    return outward[None]


def test_contour_vertex_gradient_matches_finite_differences() -> None:
    outward = _contour_vertex()
    _check_directional_derivative("vertices", outward)


def test_moving_a_contour_vertex_outward_grows_the_silhouette() -> None:
    outward = _contour_vertex()
    for antialiased in (True, False):
        inputs = _inputs()
        inputs["vertices"].requires_grad_(True)
        coverage = _render(inputs, antialiased).alpha[0].sum()
        (gradient,) = torch.autograd.grad(coverage, inputs["vertices"], allow_unused=True)
        growth = 0.0 if gradient is None else (gradient * outward).sum().item()
        if antialiased:
            assert growth > 10  # square pixels per metre; about 100 expected
        else:
            assert growth == 0.0  # hard coverage is piecewise constant


def test_silhouette_gradient_predicts_area_change() -> None:
    # Scaling a sphere by s scales its disc's area by s^2: d area / d s = 2 area.
    sphere = trimesh.creation.icosphere(subdivisions=4)
    scale = torch.ones((), dtype=DTYPE, requires_grad=True)
    vertices = torch.tensor(sphere.vertices, dtype=DTYPE)[None] * 0.1 * scale
    camera = Cameras.look_at_orbit(0.0, 0.0, 0.5, 40.0, dtype=DTYPE)
    area = render(vertices, torch.tensor(sphere.faces), camera, resolution=64).alpha.sum()
    (gradient,) = torch.autograd.grad(area, scale)
    assert gradient.item() == pytest.approx(2 * area.item(), rel=0.03)
    assert area.item() > 0.1 * 64 * 64 * math.pi / 4


def test_gradients_are_bit_reproducible() -> None:
    # Same inputs, same gradients, to the bit: a seed must reproduce an optimisation run.
    mesh = head_stand_in()
    generator = torch.Generator().manual_seed(0)
    cameras = Cameras.sample_views(generator, 4)
    lights = Lights.random(generator, 4)
    weights = torch.rand(4, 3, 128, 128, generator=generator)
    gradients = []
    for _ in range(2):
        vertices = torch.tensor(mesh.vertices, dtype=torch.float32)[None].requires_grad_(True)
        texture = torch.full((1, 3, 64, 64), 0.5, requires_grad=True)
        uvs = torch.tensor(mesh.vertices[mesh.faces][..., :2], dtype=torch.float32) * 4 + 0.5
        out = render(vertices, torch.tensor(mesh.faces), cameras, corner_uvs=uvs,
                     texture=texture, lights=lights, resolution=128)
        gradients.append(torch.autograd.grad((out.rgb * weights).sum(), (vertices, texture)))
    assert all(torch.equal(a, b) for a, b in zip(*gradients, strict=True))
