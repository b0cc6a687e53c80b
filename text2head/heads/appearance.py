"""UV-space albedo: a two-chromophore skin tone, region tints, eye colours and a residual.

The albedo is built in the MakeHuman UV atlas as
    sigmoid(logit(tinted skin) + upsampled coarse-to-fine residual)
so every texel stays in (0, 1) with a non-vanishing gradient, the named colours stay
meaningful, and the residual can paint brows, stubble, hair or make-up where CLIP asks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from text2head.heads.params import GroupSpec
from text2head.heads.specs import CHANNELS, EYE_COLOURS, REGION_TINTS
from text2head.heads.texture_resize import resize_map
from text2head.render.tone import linear_to_srgb

# Relative absorption per unit concentration at the red, green and blue primaries: melanin
# absorbs more toward blue, oxy-haemoglobin in the green and (its Soret band) the blue, so
# blood reddens skin without turning it magenta.
MELANIN_ABSORPTION = (1.4, 1.9, 2.4)
HAEMOGLOBIN_ABSORPTION = (0.05, 0.75, 0.8)
# Linear reflectance of skin without melanin or blood (a pale, slightly yellow tissue).
BLOODLESS_SKIN = (0.80, 0.70, 0.58)
LOGIT_EPS = 1e-3


def skin_colour(melanin: torch.Tensor, haemoglobin: torch.Tensor) -> torch.Tensor:
    """sRGB skin colour (B, 3) from melanin and haemoglobin in [0, 1] (Beer-Lambert)."""
    like = melanin[:, None]
    absorbance = melanin[:, None] * like.new_tensor(MELANIN_ABSORPTION) + haemoglobin[
        :, None
    ] * like.new_tensor(HAEMOGLOBIN_ABSORPTION)
    return linear_to_srgb(like.new_tensor(BLOODLESS_SKIN) * torch.exp(-absorbance))


class AlbedoModel:
    """Turns appearance parameters and the residual pyramid into a UV texture."""

    def __init__(self, spec: GroupSpec, masks: dict[str, torch.Tensor]):
        self.spec = spec
        # Eye masks are nested (pupil in iris in sclera); make them disjoint so that the tint
        # matrix below can add them.
        masks = dict(masks)
        masks["sclera"] = (masks["sclera"] - masks["iris"]).clamp_min(0)
        masks["iris"] = (masks["iris"] - masks["pupil"]).clamp_min(0)
        self.regions = list(REGION_TINTS) + list(EYE_COLOURS) + ["pupil"]
        self.masks = torch.stack([masks[r] for r in self.regions])  # (M, H, W)
        # Masks as the tint matrix product wants them, per (size, device, dtype): resizing
        # and moving them on every decode would cost more than the product itself.
        self._stacked: dict[tuple, torch.Tensor] = {}
        self._colour_index = [
            [spec.index(f"{part}_{c}") for c in CHANNELS] for part in self.regions[:-1]
        ]
        self._amount_index = [spec.index(f"{r}_amount") for r in REGION_TINTS]
        self._skin_index = (spec.index("skin_melanin"), spec.index("skin_haemoglobin"))

    def region_colours(self, appearance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, M, 3) colour and (B, M) strength of every region, the pupil black and opaque."""
        colours = torch.stack([appearance[:, idx] for idx in self._colour_index], dim=1)
        colours = torch.cat([colours, colours.new_zeros(colours.shape[0], 1, 3)], dim=1)
        tint_amounts = appearance[:, self._amount_index]
        eye_amounts = tint_amounts.new_ones(tint_amounts.shape[0], len(EYE_COLOURS) + 1)
        return colours, torch.cat([tint_amounts, eye_amounts], dim=1)

    def base_texture(self, appearance: torch.Tensor, size: int) -> torch.Tensor:
        """(B, 3, size, size) tinted skin without the residual."""
        skin = skin_colour(*(appearance[:, i] for i in self._skin_index))  # (B, 3)
        colours, amounts = self.region_colours(appearance)
        # albedo = skin + sum_r amount_r * mask_r * (colour_r - skin): one matrix product.
        weights = torch.cat([skin[:, :, None], (colours - skin[:, None]).transpose(1, 2)
                             * amounts[:, None]], dim=2)  # (B, 3, 1 + M)
        return (weights @ self._stacked_masks(size, appearance)).reshape(-1, 3, size, size)

    def texture(
        self, appearance: torch.Tensor, residual: tuple[torch.Tensor, ...], size: int,
        modulation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """sigmoid(logit(base * modulation) + residual): `modulation` (B or 1, 3, size, size)
        is the skin and eye detail of `text2head.heads.look` (none: flat regions)."""
        base = self.base_texture(appearance, size)
        if modulation is not None:
            base = base * modulation
        base = base.clamp(LOGIT_EPS, 1 - LOGIT_EPS)
        return torch.sigmoid(torch.logit(base) + upsample_pyramid(residual, size))

    def _stacked_masks(self, size: int, like: torch.Tensor) -> torch.Tensor:
        """(1 + M, size * size): a row of ones (the skin) and every region mask."""
        key = (size, like.device, like.dtype)
        if key not in self._stacked:
            masks = resize_map(self.masks, size, like)
            self._stacked[key] = torch.cat(
                [masks.new_ones(1, size * size), masks.reshape(len(masks), -1)]
            )
        return self._stacked[key]


def upsample_pyramid(levels: tuple[torch.Tensor, ...], size: int) -> torch.Tensor:
    """Sum coarse-to-fine grids: each partial sum is doubled in size and the next grid added."""
    total = levels[0]
    for grid in levels[1:]:
        total = F.interpolate(total, size=grid.shape[-2:], mode="bilinear", align_corners=False)
        total = total + grid
    if total.shape[-1] != size:
        total = F.interpolate(total, size=(size, size), mode="bilinear", align_corners=False)
    return total


def sample_texture(texture: torch.Tensor, uvs: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (B, N, 3) of a (B, 3, H, W) texture at OBJ-convention UVs (N, 2)."""
    grid = torch.stack([uvs[:, 0] * 2 - 1, 1 - uvs[:, 1] * 2], dim=-1)
    grid = grid[None, None].expand(texture.shape[0], 1, -1, 2)
    samples = F.grid_sample(texture, grid, mode="bilinear", align_corners=False)
    return samples[:, :, 0].transpose(1, 2)
