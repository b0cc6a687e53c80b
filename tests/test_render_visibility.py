"""Visibility and known-image checks of the rasterizer against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from render_reference import first_hits, head_stand_in, orbit_rays, simple_lights

from text2head.render import Cameras, display, linear_to_srgb, rasterize, render, srgb_to_linear

VIEWS = [(0.0, 0.0), (35.0, -20.0), (160.0, 25.0)]  # (yaw, pitch) degrees
HEIGHT, WIDTH = 48, 64  # not square, so the aspect ratio is exercised


def _box_before_ellipsoid() -> trimesh.Trimesh:
    """Two separate closed shapes, the box partly hiding the ellipsoid from the front."""
    box = trimesh.creation.box([0.08, 0.08, 0.08])
    box.apply_translation([0.05, 0.03, 0.12])
    return trimesh.util.concatenate([head_stand_in(), box])


def _head_mesh() -> trimesh.Trimesh:
    heads = pytest.importorskip("text2head.heads")
    model = heads.HeadModel()
    vertices = model.decode(model.neutral()).vertices[0].detach().numpy()
    return trimesh.Trimesh(vertices, model.faces.numpy(), process=False)


SHAPES = {
    "ellipsoid": head_stand_in,
    "box": lambda: trimesh.creation.box([0.15, 0.2, 0.1]),
    "box_before_ellipsoid": _box_before_ellipsoid,
    "head": _head_mesh,
}


@pytest.mark.parametrize("cull_backfaces", [True, False])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_visibility_matches_ray_caster(shape: str, cull_backfaces: bool) -> None:
    mesh = SHAPES[shape]()
    vertices = torch.tensor(mesh.vertices, dtype=torch.float32)
    faces = torch.tensor(mesh.faces)
    yaw, pitch = zip(*VIEWS, strict=True)
    cameras = Cameras.look_at_orbit(yaw, pitch, distance=0.6, fov=40.0)
    fragments = rasterize(cameras.to_clip(vertices[None], WIDTH / HEIGHT), faces, HEIGHT, WIDTH,
                          cull_backfaces)
    for index, (view_yaw, view_pitch) in enumerate(VIEWS):
        origin, directions = orbit_rays(view_yaw, view_pitch, 0.6, 40.0, HEIGHT, WIDTH)
        expected = first_hits(mesh.vertices, mesh.faces, origin, directions, cull_backfaces)
        ids = fragments.triangle_id[index].reshape(-1).numpy()
        assert (expected >= 0).mean() > 0.1, "the view must show the shape"
        agreement = (ids == expected).mean()
        assert agreement >= 0.995, f"view {index}: only {agreement:.4f} of pixels agree"


def test_back_faces_are_culled_only_on_request() -> None:
    # A square facing away from the camera: invisible when culling, visible otherwise.
    vertices = torch.tensor([[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # clockwise seen from +Z
    clip = Cameras.look_at_orbit(0.0, distance=3.0).to_clip(vertices[None], 1.0)
    assert rasterize(clip, faces, 32, 32, cull_backfaces=True).alpha.sum() == 0
    fragments = rasterize(clip, faces, 32, 32, cull_backfaces=False)
    assert (fragments.triangle_id[0, 16, 16] >= 0) and not fragments.front_facing.any()


def test_unit_sphere_renders_as_disc_of_expected_radius() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5)
    size, distance, fov = 128, 3.0, 60.0
    # The silhouette is the cone of half-angle asin(1 / distance) around the view axis.
    radius = math.tan(math.asin(1 / distance)) / math.tan(math.radians(fov) / 2) * size / 2
    out = render(torch.tensor(sphere.vertices, dtype=torch.float32)[None],
                 torch.tensor(sphere.faces), Cameras.look_at_orbit(0.0, 0.0, distance, fov),
                 background=0.0, resolution=size)
    covered = (out.triangle_id[0] >= 0).float()
    assert covered.sum().item() == pytest.approx(math.pi * radius**2, rel=0.01)
    assert out.alpha.sum().item() == pytest.approx(math.pi * radius**2, rel=0.005)
    ys, xs = torch.nonzero(covered, as_tuple=True)
    assert (xs.float() + 0.5).mean().item() == pytest.approx(size / 2, abs=0.05)
    assert (ys.float() + 0.5).mean().item() == pytest.approx(size / 2, abs=0.05)
    centre_distance = torch.hypot(xs + 0.5 - size / 2, ys + 0.5 - size / 2)
    assert centre_distance.max().item() <= radius
    assert out.depth[0, 0, size // 2, size // 2].item() == pytest.approx(distance - 1, abs=1e-3)


# Ambient light only, dim enough that the tone curve's shoulder is never reached: a pixel shows
# `_flat(albedo)`, which is invertible.
FLAT = simple_lights(ambient=0.5)


def _flat(albedo: torch.Tensor) -> torch.Tensor:
    """The displayed colour (..., 3) of sRGB albedo under FLAT light."""
    return display(0.5 * srgb_to_linear(albedo))


def _square(size: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A square in the z = 0 plane facing +Z, UVs from (0, 0) bottom-left to (1, 1) top-right."""
    vertices = size * torch.tensor([[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    corner_uvs = ((vertices[faces][..., :2] / size) + 1) / 2
    return vertices, faces, corner_uvs


def test_checkerboard_squares_land_where_the_uvs_say() -> None:
    # 8 x 8 squares; square (row i, column j) has colour (i / 7, j / 7, (i + j) % 2), row 0 on top.
    squares, texels = 8, 8
    i, j = torch.meshgrid(torch.arange(squares), torch.arange(squares), indexing="ij")
    colours = torch.stack([i / 7, j / 7, ((i + j) % 2).float()])
    texture = colours.repeat_interleave(texels, 1).repeat_interleave(texels, 2)[None]
    vertices, faces, corner_uvs = _square()
    size, distance, fov = 128, 3.0, 45.0
    out = render(vertices[None], faces, Cameras.look_at_orbit(0.0, 0.0, distance, fov),
                 corner_uvs=corner_uvs, texture=texture, lights=FLAT, resolution=size)
    pixels_per_metre = size / 2 / (distance * math.tan(math.radians(fov) / 2))
    for row in range(squares):
        for column in range(squares):
            x = -1 + (column + 0.5) * 2 / squares  # square centre in world units
            y = 1 - (row + 0.5) * 2 / squares
            px = int(size / 2 + x * pixels_per_metre)
            py = int(size / 2 - y * pixels_per_metre)
            torch.testing.assert_close(out.rgb[0, :, py, px], _flat(colours[:, row, column]))


def test_texture_lookup_is_perspective_correct() -> None:
    # A plane seen at a grazing 60 degrees whose texture encodes (u, v); every pixel must show
    # the UV of the point its ray hits. Blue is 0, so the tone curve has no toe offset, and
    # 0.5 * linear stays below its shoulder: the displayed colour decodes back to the UV.
    resolution = 256
    ramp = (torch.arange(resolution) + 0.5) / resolution
    u = ramp.expand(resolution, -1)
    v = ramp.flip(0)[:, None].expand(-1, resolution)  # row 0 is the top, v = 1
    texture = torch.stack([u, v, torch.zeros_like(u)])[None]
    vertices, faces, corner_uvs = _square(0.1)
    yaw, distance, fov, size = 60.0, 0.4, 40.0, 96
    out = render(vertices[None], faces, Cameras.look_at_orbit(yaw, 0.0, distance, fov),
                 corner_uvs=corner_uvs, texture=texture, lights=FLAT, resolution=size)
    origin, directions = orbit_rays(yaw, 0.0, distance, fov, size, size)
    t = -origin[2] / directions[:, 2]  # hit of the z = 0 plane
    expected_uv = ((origin[:2] + t[:, None] * directions[:, :2]) / 0.1 + 1) / 2
    rendered_uv = linear_to_srgb(2 * srgb_to_linear(out.rgb[0, :2].reshape(2, -1).T)).numpy()
    interior = ((expected_uv > 0.02) & (expected_uv < 0.98)).all(1)
    assert interior.sum() > 1000
    assert (out.triangle_id[0].reshape(-1).numpy()[interior] >= 0).all()
    np.testing.assert_allclose(rendered_uv[interior], expected_uv[interior], atol=2e-3)
