"""The built-in head through the renderer: preview views, and CPU/CUDA agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from text2head.render import NAMED_VIEWS, Cameras, face_neighbors, render

heads = pytest.importorskip("text2head.heads")
SIZE = 224


@pytest.fixture(scope="module")
def head() -> dict[str, torch.Tensor]:
    model = heads.HeadModel()
    decoded = model.decode(model.neutral())
    return {"vertices": decoded.vertices.detach(), "faces": model.faces,
            "corner_uvs": model.corner_uvs, "texture": decoded.texture.detach(),
            "normals": decoded.normals.detach()}


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a & b).sum() / (a | b).sum()).item()


def test_named_views_frame_the_head(head: dict[str, torch.Tensor], tmp_path: Path) -> None:
    names = list(NAMED_VIEWS)
    out = render(head["vertices"], head["faces"], Cameras.named_views(names),
                 corner_uvs=head["corner_uvs"], texture=head["texture"], resolution=SIZE)
    for name, rgb in zip(names, out.rgb, strict=True):
        pixels = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    assert Image.open(tmp_path / "front.png").size == (SIZE, SIZE)

    covered = out.triangle_id >= 0
    coverage = covered.float().mean((1, 2))
    assert ((coverage > 0.15) & (coverage < 0.6)).all(), coverage
    border = torch.cat([covered[:, 0], covered[:, -1], covered[:, :, 0], covered[:, :, -1]], 1)
    assert not border.any(), "the whole head must be in frame"

    front = covered[names.index("front")]
    ys, xs = torch.nonzero(front, as_tuple=True)
    assert abs(xs.float().mean().item() + 0.5 - SIZE / 2) < 0.02 * SIZE  # centred
    assert 0.45 < (ys.max() - ys.min() + 1).item() / SIZE < 0.9  # fills a sensible part
    assert _iou(front, front.flip(1)) > 0.95  # left-right symmetric
    left, right = covered[names.index("left")], covered[names.index("right")]
    assert _iou(left, right.flip(1)) > 0.9

    # The face looks toward +Z: the nose tip is seen from the front, not from the back.
    tip = int(head["vertices"][0, :, 2].argmax())
    tip_faces = torch.nonzero((head["faces"] == tip).any(1)).squeeze(1)
    assert torch.isin(out.triangle_id[names.index("front")], tip_faces).any()
    assert not torch.isin(out.triangle_id[names.index("back")], tip_faces).any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(head: dict[str, torch.Tensor]) -> None:
    cameras = Cameras.sample_views(torch.Generator().manual_seed(0), 4)
    results = []
    for device in ("cpu", "cuda"):
        inputs = {name: value.to(device) for name, value in head.items()}
        inputs["vertices"].requires_grad_(True)
        out = render(inputs["vertices"], inputs["faces"], cameras.to(device),
                     corner_uvs=inputs["corner_uvs"], texture=inputs["texture"],
                     neighbors=face_neighbors(inputs["faces"]), resolution=SIZE)
        (gradient,) = torch.autograd.grad(out.rgb.mean(), inputs["vertices"])
        results.append((out.rgb.cpu(), out.triangle_id.cpu(), gradient.cpu()))
    (rgb_cpu, ids_cpu, grad_cpu), (rgb_gpu, ids_gpu, grad_gpu) = results
    assert (ids_cpu == ids_gpu).float().mean() > 0.999
    assert (rgb_cpu - rgb_gpu).abs().mean() < 1e-3
    assert (rgb_cpu - rgb_gpu).abs().quantile(0.999) < 2e-2
    cosine = torch.nn.functional.cosine_similarity(grad_cpu.flatten(), grad_gpu.flatten(), dim=0)
    assert cosine > 0.99


def test_given_normals_match_computed_ones(head: dict[str, torch.Tensor]) -> None:
    cameras = Cameras.named_views(["three_quarter"])
    common = {"corner_uvs": head["corner_uvs"], "texture": head["texture"], "resolution": 96}
    computed = render(head["vertices"], head["faces"], cameras, **common).rgb
    given = render(head["vertices"], head["faces"], cameras, normals=head["normals"],
                   **common).rgb
    flipped = render(head["vertices"], head["faces"], cameras, normals=-head["normals"],
                     **common).rgb
    assert torch.allclose(given, computed, atol=1e-5)
    assert not torch.allclose(flipped, computed, atol=1e-2)  # the argument is really used


def test_turntable_rendered_a_few_frames_at_a_time_equals_one_batch(head_model) -> None:
    """The turntable is rendered in small batches to bound memory; the frames must be the
    ones a single batch gives, in order (5 does not divide 24: the last batch is short)."""
    from text2head.preview import turntable

    random = head_model.sample(torch.Generator().manual_seed(4))
    whole = turntable(head_model, random, frames=24, resolution=64, frames_at_once=24)
    batched = turntable(head_model, random, frames=24, resolution=64, frames_at_once=5)
    assert batched.shape == (24, 3, 64, 64)
    # Batched matrix products may round the last bit differently for another batch size.
    torch.testing.assert_close(batched, whole, rtol=0, atol=1e-6)
    assert not torch.equal(batched[0], batched[6])  # the camera turns between frames
