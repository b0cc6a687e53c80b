"""The whole head on CUDA agrees with the CPU: decode, parts, occlusion, composed render and
gradients to every parameter group (skipped without CUDA; run on a GPU machine)."""

from __future__ import annotations

import pytest
import torch

from text2head.heads import HeadModel
from text2head.render import Cameras, Lights, render

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _render_scene(model: HeadModel, device: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """4 optimizer views of a random head with long hair, a full beard, brows, lashes and
    teeth, as an optimizer step renders them; and the gradient of the image's mean."""
    model = model.to(device)
    head = model.sample(torch.Generator().manual_seed(3)).with_styles(
        hair="long01", facial_hair="full_beard").to(device)
    leaves = head.map(lambda t: t.clone().requires_grad_(True))
    generator = torch.Generator().manual_seed(4)
    cameras = Cameras.sample_views(generator, 4, device=device)
    lights = Lights.random(generator, 4, device=device)
    scene = model.scene(leaves)
    rgb = render(scene.vertices, scene.faces, cameras, lights=lights, resolution=224,
                 **scene.render_kwargs()).rgb
    rgb.mean().backward()
    gradients = {name: value.grad.cpu() for name, value in leaves.groups()}
    return rgb.detach().cpu(), gradients


def test_the_whole_scene_renders_on_cuda_as_on_the_cpu() -> None:
    model = HeadModel()
    rgb_cpu, grads_cpu = _render_scene(model, "cpu")
    rgb_gpu, grads_gpu = _render_scene(model, "cuda")
    assert (rgb_cpu - rgb_gpu).abs().mean() < 2e-3
    assert (rgb_cpu - rgb_gpu).abs().quantile(0.99) < 5e-2
    for name, grad in grads_cpu.items():
        assert torch.isfinite(grads_gpu[name]).all(), name
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), grads_gpu[name].flatten(),
                                                       dim=0)
        assert cosine > 0.98, (name, float(cosine))


def test_a_cpu_head_is_written_by_a_cuda_model(tmp_path) -> None:
    """Heads read from JSON or made by the prompt reader live on the CPU; a model on CUDA
    exports, animates and previews them (the CLI's candidates do exactly this)."""
    import trimesh

    from text2head.animation.request import AnimationRequest
    from text2head.bundle import write_head

    model = HeadModel().to("cuda")
    head = model.sample(torch.Generator().manual_seed(5)).with_styles(
        hair="bob01", facial_hair="goatee").to("cpu")
    files = write_head(model, head, tmp_path, texture_size=256,
                       animation=AnimationRequest(("expression",)))
    loaded = trimesh.load(files["glb"], force="scene")
    assert len(loaded.geometry) >= 4  # head, hair, brows, lashes, teeth, beard
    assert files["preview"].stat().st_size > 10_000
