"""Batched perspective look-at cameras that orbit the head.

Angles are in degrees at the API because people (and config files) think in degrees. Yaw 0 looks
at the face (camera on +Z); positive yaw moves the camera toward +X, the head's left side;
positive pitch lifts the camera so it looks down on the head. View space follows OpenGL: the
camera looks down -Z with +Y up, so clip-space w is the distance in front of the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

# Named preview views: (yaw, pitch) in degrees.
NAMED_VIEWS: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0),
    "left": (90.0, 0.0),
    "right": (-90.0, 0.0),
    "three_quarter": (45.0, 0.0),
    "back": (180.0, 0.0),
}
# A 0.25 m head fills about two thirds of the frame height at this distance and field of view.
DEFAULT_DISTANCE = 0.75
DEFAULT_FOV = 30.0


@dataclass(frozen=True)
class Cameras:
    """A batch of B pinhole cameras: rigid world-to-view transforms plus vertical fields of view."""

    world_to_view: Tensor  # (B, 4, 4)
    fov_y: Tensor  # (B,) vertical field of view in degrees
    near: float = 0.01  # metres; only fixes the clip-space z range, depth tests use w
    far: float = 100.0

    def __post_init__(self) -> None:
        if self.world_to_view.ndim != 3 or self.world_to_view.shape[1:] != (4, 4):
            raise ValueError("world_to_view must be (B, 4, 4), got "
                             f"{tuple(self.world_to_view.shape)}")
        if self.fov_y.shape != (len(self.world_to_view),):
            raise ValueError(f"fov_y must be ({len(self.world_to_view)},), got "
                             f"{tuple(self.fov_y.shape)}")

    def __len__(self) -> int:
        return len(self.world_to_view)

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> Cameras:
        return Cameras(self.world_to_view.to(device, dtype), self.fov_y.to(device, dtype),
                       self.near, self.far)

    @property
    def rotation(self) -> Tensor:
        """(B, 3, 3) world-to-view rotation; its rows are the camera's right, up and back axes."""
        return self.world_to_view[:, :3, :3]

    @property
    def eye(self) -> Tensor:
        """(B, 3) camera centres in world space."""
        translation = self.world_to_view[:, :3, 3:]
        return -(self.rotation.transpose(1, 2) @ translation)[..., 0]

    def projection(self, aspect: float) -> Tensor:
        """(B, 4, 4) OpenGL perspective matrices for an image of width / height = aspect."""
        focal = 1.0 / torch.tan(torch.deg2rad(self.fov_y) / 2)
        matrix = self.world_to_view.new_zeros(len(self), 4, 4)
        matrix[:, 0, 0] = focal / aspect
        matrix[:, 1, 1] = focal
        matrix[:, 2, 2] = (self.far + self.near) / (self.near - self.far)
        matrix[:, 2, 3] = 2 * self.far * self.near / (self.near - self.far)
        matrix[:, 3, 2] = -1.0
        return matrix

    def to_clip(self, points: Tensor, aspect: float) -> Tensor:
        """Project world points (1 or B, V, 3) to clip space (B, V, 4)."""
        homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)
        matrix = self.projection(aspect) @ self.world_to_view
        return homogeneous @ matrix.transpose(1, 2)

    @classmethod
    def look_at_orbit(cls, yaw: Tensor | Sequence[float] | float,
                      pitch: Tensor | Sequence[float] | float = 0.0,
                      distance: Tensor | Sequence[float] | float = DEFAULT_DISTANCE,
                      fov: Tensor | Sequence[float] | float = DEFAULT_FOV,
                      target: Sequence[float] = (0.0, 0.0, 0.0),
                      device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> Cameras:
        """Cameras on a sphere around `target`, looking at it with +Y up; arguments broadcast."""
        yaw, pitch, distance, fov = torch.broadcast_tensors(
            *(torch.as_tensor(v, dtype=dtype, device=device).reshape(-1)
              for v in (yaw, pitch, distance, fov)))
        if (pitch.abs() >= 90).any():
            raise ValueError("pitch must lie strictly between -90 and 90 degrees")
        yaw_rad, pitch_rad = torch.deg2rad(yaw), torch.deg2rad(pitch)
        centre = torch.as_tensor(target, dtype=dtype, device=device)
        offset = torch.stack([torch.cos(pitch_rad) * torch.sin(yaw_rad), torch.sin(pitch_rad),
                              torch.cos(pitch_rad) * torch.cos(yaw_rad)], dim=-1)
        eye = centre + distance[:, None] * offset
        back = offset  # unit vector from the target to the eye: view-space +Z
        up_world = torch.tensor([0.0, 1.0, 0.0], dtype=dtype, device=device).expand_as(back)
        right = torch.nn.functional.normalize(torch.linalg.cross(up_world, back), dim=-1)
        up = torch.linalg.cross(back, right)
        rotation = torch.stack([right, up, back], dim=1)
        world_to_view = torch.zeros(len(eye), 4, 4, dtype=dtype, device=device)
        world_to_view[:, :3, :3] = rotation
        world_to_view[:, :3, 3] = -(rotation @ eye[..., None])[..., 0]
        world_to_view[:, 3, 3] = 1.0
        return cls(world_to_view, fov)

    @classmethod
    def named_views(cls, names: Sequence[str] = tuple(NAMED_VIEWS),
                    distance: float = DEFAULT_DISTANCE, fov: float = DEFAULT_FOV,
                    target: Sequence[float] = (0.0, 0.0, 0.0),
                    device: torch.device | str | None = None) -> Cameras:
        """Fixed preview views by name (see NAMED_VIEWS)."""
        unknown = [name for name in names if name not in NAMED_VIEWS]
        if unknown:
            raise ValueError(f"unknown view names {unknown}; known: {sorted(NAMED_VIEWS)}")
        yaw, pitch = zip(*(NAMED_VIEWS[name] for name in names), strict=True)
        return cls.look_at_orbit(yaw, pitch, distance, fov, target, device=device)

    @classmethod
    def sample_views(cls, generator: torch.Generator, n: int,
                     yaw_range: tuple[float, float] = (-90.0, 90.0), pitch_std: float = 10.0,
                     max_pitch: float = 30.0, distance: float = DEFAULT_DISTANCE,
                     distance_jitter: float = 0.1, fov: float = DEFAULT_FOV,
                     target: Sequence[float] = (0.0, 0.0, 0.0),
                     device: torch.device | str | None = None) -> Cameras:
        """Random optimisation views: yaw uniform over a face-centred range, small pitch jitter.

        Sampling happens on the CPU generator so a seed gives the same views on any device.
        """
        low, high = yaw_range
        yaw = low + (high - low) * torch.rand(n, generator=generator)
        pitch = (pitch_std * torch.randn(n, generator=generator)).clamp(-max_pitch, max_pitch)
        scale = 1 + distance_jitter * (2 * torch.rand(n, generator=generator) - 1)
        return cls.look_at_orbit(yaw, pitch, distance * scale, fov, target).to(device)

