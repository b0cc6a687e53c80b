"""Hair colour from pigments: eumelanin, pheomelanin and the fraction of grey strands.

Real hair colour comes from two melanins that absorb light along the fibre (Beer-Lambert);
the absorption spectra below are the ones used in physically based hair rendering (d'Eon et
al. 2011, "An energy-conserving hair reflectance model"), sampled at red, green and blue.
Grey hair is a mix of pigmented and unpigmented (white-grey) strands.
"""

from __future__ import annotations

import torch

from text2head.render.tone import linear_to_srgb

EUMELANIN_ABSORPTION = (0.419, 0.697, 1.37)
PHEOMELANIN_ABSORPTION = (0.187, 0.4, 1.05)
# Slider [0, 1] to concentration: eumelanin squared so that the blond-to-brown range gets as
# much of the slider as brown-to-black.
EUMELANIN_MAX = 10.0
PHEOMELANIN_MAX = 6.0
FIBRE_REFLECTANCE = 0.9
SURFACE_REFLECTANCE = 0.008  # the cuticle's colourless reflection: black hair is not (0, 0, 0)
UNPIGMENTED = (0.72, 0.72, 0.70)  # linear colour of a white/grey strand


def hair_colour(eumelanin: torch.Tensor, pheomelanin: torch.Tensor,
                grey: torch.Tensor) -> torch.Tensor:
    """sRGB colour (B, 3) from pigment amounts and grey fraction, each (B,) in [0, 1]."""
    like = eumelanin[:, None]
    absorbance = (EUMELANIN_MAX * eumelanin[:, None] ** 2 * like.new_tensor(EUMELANIN_ABSORPTION)
                  + PHEOMELANIN_MAX * pheomelanin[:, None]
                  * like.new_tensor(PHEOMELANIN_ABSORPTION))
    pigmented = FIBRE_REFLECTANCE * torch.exp(-absorbance) + SURFACE_REFLECTANCE
    grey = grey[:, None]
    return linear_to_srgb((1 - grey) * pigmented + grey * like.new_tensor(UNPIGMENTED))
