"""Orbit cameras: placement, orientation, projection and view sampling."""

from __future__ import annotations

import math

import pytest
import torch

from text2head.render import NAMED_VIEWS, Cameras


def test_front_camera_sits_on_plus_z_looking_at_the_origin() -> None:
    cameras = Cameras.look_at_orbit(0.0, 0.0, distance=0.7)
    torch.testing.assert_close(cameras.eye, torch.tensor([[0.0, 0.0, 0.7]]))
    torch.testing.assert_close(cameras.rotation, torch.eye(3)[None])


@pytest.mark.parametrize(("yaw", "pitch", "direction"), [
    (90.0, 0.0, (1.0, 0.0, 0.0)),  # the head's left side
    (-90.0, 0.0, (-1.0, 0.0, 0.0)),
    (180.0, 0.0, (0.0, 0.0, -1.0)),
    (0.0, 30.0, (0.0, 0.5, math.sqrt(3) / 2)),  # above, looking down
])
def test_orbit_places_the_eye(yaw: float, pitch: float, direction: tuple[float, ...]) -> None:
    cameras = Cameras.look_at_orbit(yaw, pitch, distance=2.0, target=(0.1, 0.2, 0.3))
    expected = torch.tensor([0.1, 0.2, 0.3]) + 2.0 * torch.tensor(direction)
    torch.testing.assert_close(cameras.eye[0], expected)
    rotation = cameras.rotation[0]
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3))
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0)
    # The view axis (-Z in view space) points from the eye at the target.
    torch.testing.assert_close(-rotation[2], -torch.tensor(direction))


def test_projection_orientation_and_depth() -> None:
    cameras = Cameras.look_at_orbit([0.0, 90.0], 0.0, distance=1.0, fov=90.0)
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.5, 0.0, 0.0]]])
    clip = cameras.to_clip(points, aspect=2.0)
    ndc = clip[..., :3] / clip[..., 3:]
    torch.testing.assert_close(clip[0, :, 3], torch.ones(3))  # w = distance along the view axis
    torch.testing.assert_close(ndc[0, 0, :2], torch.zeros(2))  # the target is in the centre
    assert ndc[0, 1, 1] == pytest.approx(0.5)  # +Y is up; tan(45 deg) = 1 maps to the border
    assert ndc[0, 2, 0] == pytest.approx(0.25)  # +X is right in the front view (aspect 2)
    assert ndc[1, 2, 0].abs() < 1e-6 and clip[1, 2, 3] == pytest.approx(0.5)  # seen from +X
    assert (ndc[..., 2].abs() < 1).all()


def test_named_views_follow_the_table() -> None:
    cameras = Cameras.named_views()
    assert len(cameras) == len(NAMED_VIEWS) == 5
    left = Cameras.named_views(["left"])
    assert left.eye[0, 0] > 0 and torch.allclose(left.eye, cameras.eye[1:2])
    with pytest.raises(ValueError, match="unknown view"):
        Cameras.named_views(["top"])


def test_sampled_views_are_seeded_and_within_ranges() -> None:
    def sample(seed: int) -> Cameras:
        return Cameras.sample_views(torch.Generator().manual_seed(seed), 64,
                                    yaw_range=(-60.0, 60.0), max_pitch=20.0, distance=0.7,
                                    distance_jitter=0.1)

    first, again, other = sample(1), sample(1), sample(2)
    assert torch.equal(first.world_to_view, again.world_to_view)
    assert not torch.equal(first.world_to_view, other.world_to_view)
    eye = first.eye
    distance = eye.norm(dim=-1)
    assert ((distance >= 0.63 - 1e-6) & (distance <= 0.77 + 1e-6)).all()
    yaw = torch.rad2deg(torch.atan2(eye[:, 0], eye[:, 2]))
    pitch = torch.rad2deg(torch.asin(eye[:, 1] / distance))
    assert (yaw.abs() <= 60 + 1e-3).all() and yaw.min() < -30 and yaw.max() > 30
    assert (pitch.abs() <= 20 + 1e-3).all() and pitch.std() > 3


def test_pitch_at_the_pole_is_rejected() -> None:
    with pytest.raises(ValueError, match="pitch"):
        Cameras.look_at_orbit(0.0, 90.0)
