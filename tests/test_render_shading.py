"""Texture lookup, normals, lighting and compositing against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh
from render_reference import simple_lights

from text2head.render import (
    Cameras,
    Lights,
    display,
    render,
    sample_texture,
    srgb_to_linear,
    vertex_normals,
)
from text2head.render.shading import SKIN_F0, SKIN_LOBES, SKIN_WRAP


def test_texture_lookup_hits_texel_centres_with_v_up() -> None:
    texture = torch.arange(12.0).reshape(1, 1, 3, 4)  # row 0 (values 0..3) is the top
    uv = torch.tensor([[0.125, 5 / 6], [0.875, 1 / 6], [0.25, 1 / 3], [-1.0, 2.0]])
    values = sample_texture(texture, torch.zeros(4, dtype=torch.long), uv)[:, 0]
    # top-left texel, bottom-right texel, between four texels, clamped to the top-left corner
    torch.testing.assert_close(values, torch.tensor([0.0, 11.0, 6.5, 0.0]))


def test_texture_lookup_picks_each_views_texture() -> None:
    textures = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])
    values = sample_texture(textures, torch.tensor([1, 0]), torch.full((2, 2), 0.5))
    torch.testing.assert_close(values, torch.tensor([[1.0] * 3, [0.0] * 3]))


def test_sphere_normals_point_outward() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32)[None]
    normals = vertex_normals(vertices, torch.tensor(sphere.faces))
    assert ((normals * vertices).sum(-1) > 0.999).all()


def _facing_square() -> tuple[torch.Tensor, torch.Tensor]:
    vertices = torch.tensor([[[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]])
    return vertices, torch.tensor([[0, 1, 2], [0, 2, 3]])


def _skin_radiance(albedo: torch.Tensor, cosine: float, ambient: float, light: float,
                   specular: float) -> torch.Tensor:
    """Hand-computed linear radiance of skin for a camera on the normal and a light at
    angle acos(cosine) to it (the halfway vector at half that angle)."""
    wrap = torch.tensor(SKIN_WRAP)
    direct = light * (cosine + wrap * ((cosine + 1) / 2 - cosine))
    half = math.cos(math.acos(cosine) / 2)
    lobes = sum(weight * (power + 8) / 8 * half**power for power, weight in SKIN_LOBES)
    fresnel = SKIN_F0 + (1 - SKIN_F0) * (1 - half) ** 5
    return albedo * (ambient + direct) + specular * fresnel * lobes * cosine * light


def test_headlight_shading_matches_wrapped_diffuse_plus_two_lobes() -> None:
    # A distant camera (the view direction is +Z) facing the square: for a light behind it the
    # centre has n.l = n.h = 1; tilting the light by 60 degrees halves n.l, wraps light past it
    # per channel and turns the halfway vector by 30 degrees.
    vertices, faces = _facing_square()
    colours = torch.tensor([[[0.2, 0.4, 0.8]]]).expand(1, 4, 3)
    albedo = srgb_to_linear(colours[0, 0])
    for elevation in (0.0, 60.0):
        lights = simple_lights(elevation, color=0.5, ambient=0.25, specular=0.1)
        out = render(vertices, faces, Cameras.look_at_orbit(0.0, 0.0, 100.0, 1.0),
                     vertex_colors=colours, lights=lights, resolution=9)
        cosine = math.cos(math.radians(elevation))
        expected = display(_skin_radiance(albedo, cosine, 0.25, 0.5, 0.1))
        torch.testing.assert_close(out.rgb[0, :, 4, 4], expected, rtol=0, atol=1e-4)


def test_background_image_shows_where_nothing_is_drawn() -> None:
    vertices, faces = _facing_square()
    background = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = render(0.2 * vertices, faces, Cameras.look_at_orbit([0.0, 10.0], 0.0, 3.0, 30.0),
                 background=background, resolution=16)
    empty = out.alpha == 0
    assert empty.float().mean() > 0.5 and (out.alpha == 1).any()
    torch.testing.assert_close(out.rgb[empty.expand_as(out.rgb)],
                               background[empty.expand_as(background)])
    assert (out.depth[empty] == 0).all() and (out.triangle_id[empty[:, 0]] == -1).all()


def test_bad_inputs_are_named() -> None:
    vertices, faces = _facing_square()
    cameras = Cameras.named_views(["front", "back"])
    with pytest.raises(ValueError, match="vertices"):
        render(vertices.expand(3, 4, 3), faces, cameras)
    with pytest.raises(ValueError, match="together"):
        render(vertices, faces, cameras, texture=torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="corner_uvs"):
        render(vertices, faces, cameras, texture=torch.rand(1, 3, 4, 4),
               corner_uvs=torch.rand(len(faces), 2))
    with pytest.raises(ValueError, match="lights"):
        render(vertices, faces, cameras, lights=Lights.default(3))
    with pytest.raises(ValueError, match="background"):
        render(vertices, faces, cameras, background=torch.rand(2, 3, 5, 5), resolution=8)
