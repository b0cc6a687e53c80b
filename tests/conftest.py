"""Shared fixtures: the built-in head model, and anny itself as the reference it must match."""

from __future__ import annotations

import warnings

import pytest
import torch

from text2head.heads import HeadModel


@pytest.fixture(scope="session")
def head_model() -> HeadModel:
    return HeadModel()


@pytest.fixture(scope="session")
def anny_model():
    """anny's own head model (dev dependency). A cold build takes ~1 min and ~3.5 GB RAM."""
    from text2head.heads.build import load_anny

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_anny()


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
