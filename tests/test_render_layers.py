"""Soft cards' building blocks: the coverage pyramid and its lookup, front-to-back compositing,
and what prefiltering buys: minified strands keep their mean coverage instead of breaking into
dots."""

from __future__ import annotations

import numpy as np
import torch
from render_reference import composited_coverage, orbit_rays

from text2head.render import Cameras, render
from text2head.render.layers import composite, coverage_pyramid, sample_coverage
from text2head.render.rasterize import Layers

DTYPE = torch.float64


def _layers(pixels: list[int]) -> Layers:
    """Layers at the given (ascending) flat pixels; only which pixel and which is first matter
    to compositing."""
    index = torch.tensor(pixels)
    first = torch.ones(len(index), dtype=torch.bool)
    first[1:] = index[1:] != index[:-1]
    return Layers(index, torch.zeros_like(index), torch.zeros_like(index),
                  torch.full((len(index), 3), 1 / 3, dtype=DTYPE), first)


def test_two_layers_composite_as_the_over_operator() -> None:
    # Pixel 0: two layers over an opaque image; pixel 1: one layer over the background
    # (alpha 0); pixel 2: no layer.
    image = torch.tensor([[0.1, 0.2, 0.3, 1.0], [0.9, 0.8, 0.7, 0.0], [0.5, 0.5, 0.5, 1.0]],
                         dtype=DTYPE)
    color = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=DTYPE)
    alpha = torch.tensor([0.25, 0.6, 0.4], dtype=DTYPE)
    out = composite(image, _layers([0, 0, 1]), color, alpha)

    def over(front: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
        """Porter-Duff over of premultiplied RGBA."""
        return front + (1 - front[3]) * back

    def premultiplied(rgb: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.cat([rgb * a, a[None]])

    opaque = torch.cat([image[0, :3], image.new_ones(1)])
    expected = [over(premultiplied(color[0], alpha[0]),
                     over(premultiplied(color[1], alpha[1]), opaque)),
                over(premultiplied(color[2], alpha[2]), torch.cat([image[1, :3], image[1, 3:]])),
                image[2]]
    torch.testing.assert_close(out, torch.stack(expected))


def test_composite_gradients_match_finite_differences() -> None:
    generator = torch.Generator().manual_seed(0)
    layers = _layers([0, 0, 0, 2, 3, 3])
    image = torch.rand(4, 4, generator=generator, dtype=DTYPE, requires_grad=True)
    color = torch.rand(6, 3, generator=generator, dtype=DTYPE, requires_grad=True)
    alpha = torch.rand(6, generator=generator, dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i, c, a: composite(i, layers, c, a),
                                    (image, color, alpha))


def _random_rgba(generator: torch.Generator, height: int, width: int) -> torch.Tensor:
    return torch.rand(1, 4, height, width, generator=generator, dtype=DTYPE)


def test_coverage_lookup_gradient_matches_finite_differences() -> None:
    # At magnification (level 0), between levels and at the smallest level; UVs away from
    # texel centres, where bilinear lookups have kinks.
    generator = torch.Generator().manual_seed(1)
    pyramid = coverage_pyramid(_random_rgba(generator, 16, 32))
    assert len(pyramid) == 3  # 16, 8 and 4 texel high tiles
    uv = (0.05 + 0.9 * torch.rand(5, 2, generator=generator, dtype=DTYPE)).requires_grad_(True)
    footprint = torch.tensor([0.5, 1.5, 2.9, 3.5, 10.0], dtype=DTYPE)
    view = torch.zeros(5, dtype=torch.long)
    assert torch.autograd.gradcheck(lambda u: sample_coverage(pyramid, view, u, footprint),
                                    (uv,))


def test_coverage_lookup_with_colour_is_differentiable_in_the_texture() -> None:
    # Colour is premultiplied in the pyramid and divided back by the looked-up coverage: the
    # composited term coverage * colour must be the premultiplied lookup, in value and slope.
    generator = torch.Generator().manual_seed(2)
    texture = _random_rgba(generator, 8, 8).requires_grad_(True)
    uv = 0.05 + 0.9 * torch.rand(4, 2, generator=generator, dtype=DTYPE)
    footprint = torch.tensor([0.5, 1.2, 1.7, 3.0], dtype=DTYPE)
    view = torch.zeros(4, dtype=torch.long)

    def weighted(t: torch.Tensor) -> torch.Tensor:
        color, alpha = sample_coverage(coverage_pyramid(t), view, uv, footprint)
        return torch.cat([color * alpha[:, None], alpha[:, None]], dim=1)

    assert torch.autograd.gradcheck(weighted, (texture,))


def test_pyramid_keeps_the_mean_coverage() -> None:
    texture = _random_rgba(torch.Generator().manual_seed(3), 32, 64)
    for level in coverage_pyramid(texture):
        torch.testing.assert_close(level[:, 3].mean(), texture[:, 3].mean())
        torch.testing.assert_close(level[:, :3].mean((-2, -1)),
                                   (texture[:, :3] * texture[:, 3:]).mean((-2, -1)))


def test_minified_strands_keep_their_mean_coverage() -> None:
    # A card of 1-texel stripes (coverage 1, 0, 1, ...: mean 1/2) about 5 texels a pixel. A
    # lookup at level 0, what an alpha test sees (here the ray caster's, at pixel centres),
    # breaks it into dots and gaps; the prefiltered coverage is the stripes' mean everywhere.
    stripes = (torch.arange(64) % 2).double().expand(64, 64)
    texture = torch.cat([torch.full((3, 64, 64), 0.5, dtype=DTYPE), stripes[None]])[None]
    vertices = torch.tensor([[-0.15, -0.15, 0.0], [0.15, -0.15, 0], [0.15, 0.15, 0],
                             [-0.15, 0.15, 0]], dtype=DTYPE)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    corner_uvs = (vertices[faces][..., :2] / 0.3 + 0.5)
    yaw, pitch, distance, fov, size = 7.0, 5.0, 3.0, 40.0, 96  # off-axis: see SHARED_EDGE_BUG
    out = render(vertices[None], faces, Cameras.look_at_orbit(yaw, pitch, distance, fov,
                                                              dtype=DTYPE),
                 corner_uvs=corner_uvs, texture=texture, cutout_faces=torch.ones(2, dtype=bool),
                 resolution=size, background=0.0)
    origin, directions = orbit_rays(yaw, pitch, distance, fov, size, size)
    hit = origin[:2] - origin[2] / directions[:, 2:] * directions[:, :2]  # on the plane z = 0
    pixel = 2 * distance * np.tan(np.radians(fov / 2)) / size  # metres a pixel, about
    interior = np.abs(hit).max(1) < 0.15 - 1.5 * pixel
    assert interior.sum() > 50
    unfiltered = composited_coverage(vertices.numpy(), faces.numpy(), origin, directions,
                                     np.ones(2, dtype=bool), corner_uvs.numpy(),
                                     stripes.numpy())[interior]
    coverage = out.alpha[0, 0].reshape(-1).numpy()[interior]
    assert unfiltered.std() > 0.2  # dotted
    assert abs(coverage.mean() - 0.5) < 0.02 and coverage.std() < 0.02
    assert coverage.std() < 0.1 * unfiltered.std()
