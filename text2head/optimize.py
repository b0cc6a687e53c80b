"""The optimization engine: a run is an iterator of step results.

Each step decodes the head, renders it from randomly sampled views under random lights, scores
augmented renders with CLIP, adds the priors with the weights read live from `LiveSettings`,
and takes one Adam step with per-group learning rates; parameters are then clamped into
their ranges. Every `preview_every` steps (and at the last step) the head is rendered from
fixed views, scored without augmentation, and the best head so far is kept; the first
step is previewed too, so that a person sees the head at once. A run ended by `stop()` scores
the head of its last step the same way when that step was not previewed (nor skipped), so
that the head it stopped on can be the best; no extra step result is yielded for it.

`Optimization.notices` holds sentences for the person who asked for the run, such as that
CLIP reads only the start of a too-long prompt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from text2head import priors
from text2head.guidance import CLIPGuide, view_prompt
from text2head.guidance.attributes import with_zero_shot
from text2head.heads import GROUPS, HeadModel, HeadParams
from text2head.heads.occlusion import REFRESH_DISTANCE, OcclusionCache
from text2head.heads.params import Styles
from text2head.heads.scene import scene_vertices
from text2head.instant import instant_head, instant_styles_fixed
from text2head.preview import render_scene
from text2head.render import Cameras, Lights
from text2head.seeds import check_seed
from text2head.settings import DEFAULT_LEARNING_RATES, DEFAULT_WEIGHTS, LiveSettings
from text2head.styles import CANDIDATE_RESOLUTION, DEFAULT_CHOICES, STYLE_VIEWS, choose_styles
from text2head.text import check_text
from text2head.understand import understand

SCORE_VIEWS = ("front", "three_quarter", "left")
START_MODES = ("instant", "neutral")
OPTIMIZABLE = (*GROUPS, "texture")
TEXTURE_LIMIT = 8.0  # the residual lives in logit space; beyond this it only saturates
# During a run (steps and previews) ambient occlusion is baked anew only once a vertex has
# moved this far: a bake costs about a second, occlusion is soft, and at the default 4 mm a
# 60-step run baked 10 times. Heads rendered after the run (results, exports) get fresh bakes.
RUN_REFRESH = 3 * REFRESH_DISTANCE
# Upper bounds on a run's sizes: past them a run asks for more memory than a workstation has
# rather than for a better head, and used to end in the out-of-memory killer after minutes of
# loading. Measured on CPU: CLIP's forward and backward hold about 30 MB per image (views x
# augmentations images a step; 64 are about 2 GB); a view rendered with gradients about 0.7 KB
# per pixel (0.2 GB at 512, 0.75 GB at 1024). CLIP sees 224 px: renders past twice that add
# nothing it sees.
RUN_LIMITS = {"views": 16, "augmentations": 16, "resolution": 512, "texture_size": 2048}
MAX_IMAGES_PER_STEP = 64


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; saved as config.json next to the results."""

    prompt: str
    negative: str | None = None
    steps: int = 60
    views: int = 2
    augmentations: int = 2
    seed: int = 0
    resolution: int = 224
    texture_size: int = 256
    # Scoring the fixed views costs about half a step: every 10 steps keeps a run's time
    # outside its steps small while the page still gets a new picture every few seconds.
    preview_every: int = 10
    groups: tuple[str, ...] = OPTIMIZABLE
    view_prompts: bool = False
    yaw_range: tuple[float, float] = (-60.0, 60.0)
    weights: dict[str, float] = field(default_factory=dict)
    learning_rates: dict[str, float] = field(default_factory=dict)
    # Part kinds whose style CLIP chooses before step 1 (empty: keep the start head's).
    choose_styles: tuple[str, ...] = DEFAULT_CHOICES
    # Without a given start head: "instant" starts from the head the prompt reader makes of
    # the prompt (text2head.instant), "neutral" from the neutral head.
    start: str = "instant"
    # How far the instant start moves what the prompt leaves open toward the seed's person
    # (text2head.variety): 0 keeps the neutral head's values, 1 (default) is the seed's.
    variety: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError("prompt is empty: describe the head to make")
        if self.negative is not None and not self.negative.strip():
            raise ValueError("negative prompt is empty: leave it out instead")
        check_text("prompt", self.prompt)
        if self.negative is not None:
            check_text("negative prompt", self.negative)
        for name in ("steps", "views", "augmentations", "resolution", "texture_size",
                     "preview_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            if value > RUN_LIMITS.get(name, value):
                raise ValueError(f"{name} must be at most {RUN_LIMITS[name]}, got {value}")
        check_seed(self.seed)
        if self.views * self.augmentations > MAX_IMAGES_PER_STEP:
            raise ValueError(f"views x augmentations must be at most {MAX_IMAGES_PER_STEP} "
                             f"images a step, got {self.views} x {self.augmentations}")
        unknown = set(self.groups) - set(OPTIMIZABLE)
        if unknown:
            raise ValueError(f"unknown parameter group(s) {sorted(unknown)}; "
                             f"known: {', '.join(OPTIMIZABLE)}")
        low, high = self.yaw_range
        if not -180 <= low < high <= 180:
            raise ValueError(f"yaw_range must satisfy -180 <= low < high <= 180, got "
                             f"{self.yaw_range}")
        LiveSettings(self.weights, self.learning_rates)  # raises on a bad name or value
        if isinstance(self.variety, bool) or not isinstance(self.variety, int | float) or \
                not 0.0 <= self.variety <= 1.0:
            raise ValueError(f"variety must be a number from 0 to 1, got {self.variety!r}")
        if self.start not in START_MODES:
            raise ValueError(f"start must be one of {', '.join(START_MODES)}, got {self.start!r}")
        unknown = set(self.choose_styles) - set(Styles.kinds())
        if unknown:
            raise ValueError(f"unknown part kind(s) {sorted(unknown)} in choose_styles; "
                             f"known: {', '.join(Styles.kinds())}")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["weights"] = {**DEFAULT_WEIGHTS, **self.weights}
        data["learning_rates"] = {**DEFAULT_LEARNING_RATES, **self.learning_rates}
        return data


@dataclass
class StepResult:
    """What a consumer sees after each step."""

    step: int  # 1-based
    losses: dict[str, float]  # every weighted-in term, unweighted, plus "total"
    head: HeadParams  # detached copy of the current parameters
    seconds: float
    # Seconds spent in decode, render, clip, backward, optimizer, and "preview" (rendering
    # and scoring the fixed views) when the step was previewed.
    timings: dict[str, float]
    skipped: bool = False  # the loss was NaN/inf: no update was made
    preview: torch.Tensor | None = None  # (len(SCORE_VIEWS), 3, H, W) every preview_every
    clip_score: float | None = None  # 100 * cos on the fixed views, when previewed
    is_best: bool = False


@dataclass
class BestHead:
    head: HeadParams
    clip_score: float
    step: int


class Optimization:
    """One run: iterate it to optimize; `settings` may be changed and `stop()` called from
    another thread while it runs."""

    def __init__(
        self,
        model: HeadModel,
        guide: CLIPGuide,
        config: RunConfig,
        start: HeadParams | None = None,
        reference: HeadParams | None = None,
    ):
        """`start` is the head to begin from (the neutral head by default). With `reference`,
        CLIP compares renders to renders of that head instead of to the prompt (used to
        match a given head, and to test that CLIP gradients recover geometry)."""
        self.model = model
        self.guide = guide
        self.config = config
        self.settings = LiveSettings(config.weights, config.learning_rates)
        self.device = model.template.device
        self.understood = understand(config.prompt)
        # Styles the prompt states are kept unless CLIP clearly prefers another.
        self.stated_styles = set()
        if start is None and config.start == "instant" and reference is None:
            self.understood = with_zero_shot(self.understood, guide)
            start = instant_head(model, self.understood, seed=config.seed, variety=config.variety)
            self.stated_styles = instant_styles_fixed(self.understood)
        self.start = (start or model.neutral()).detach().to(self.device)
        model.validate(self.start)
        self.reference = None if reference is None else reference.detach().to(self.device)
        self.best: BestHead | None = None
        self.head: HeadParams = self.start
        self.style_scores: dict[str, dict[str, dict[str, float]]] = {}  # before step 1
        self.occlusion = OcclusionCache(model, scene_vertices, refresh=RUN_REFRESH)
        # Sentences to show the person once per run (e.g. the prompt was cut); see
        # `prompt_notices`.
        self.notices: tuple[str, ...] = prompt_notices(guide, config)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the run to end; it finishes the step in progress and stops before the next."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[StepResult]:
        config = self.config
        generator = torch.Generator().manual_seed(config.seed)
        if config.choose_styles and self.reference is None:
            self.start, self.style_scores = choose_styles(
                self.model, self.guide, self.start, config.prompt, config.choose_styles,
                STYLE_VIEWS, min(config.resolution, CANDIDATE_RESOLUTION),
                keep=self.stated_styles)
        leaves = self._leaves()
        optimizer = torch.optim.Adam(
            [{"params": tensors, "name": name} for name, tensors in leaves.items()]
        )
        score_cameras = Cameras.named_views(SCORE_VIEWS, device=self.device)
        unscored: StepResult | None = None  # the last step, when it was not previewed
        for step in range(1, config.steps + 1):
            if self.stopped:
                # Stopped between previews: the head it stopped on competes for best too.
                if unscored is not None and not unscored.skipped:
                    self._keep_if_best(unscored, self._score(unscored.head, score_cameras)[1])
                return
            weights, learning_rates = self.settings.snapshot()
            for group in optimizer.param_groups:
                group["lr"] = learning_rates[group["name"]]
            started = time.perf_counter()
            result = self._step(step, leaves, optimizer, weights, generator)
            unscored = result
            if step == 1 or step % config.preview_every == 0 or step == config.steps:
                previewing = time.perf_counter()
                self._preview(result, score_cameras)
                result.timings["preview"] = time.perf_counter() - previewing
                unscored = None
            result.seconds = time.perf_counter() - started
            yield result

    # ----- one step -----------------------------------------------------------------------
    def _leaves(self) -> dict[str, list[torch.Tensor]]:
        """Trainable copies of the enabled groups; disabled groups stay at the start values."""
        leaves = {}
        values = {name: value for name, value in self.start.groups()}
        for name in GROUPS:
            value = values[name].clone().requires_grad_(name in self.config.groups)
            values[name] = value
            if name in self.config.groups:
                leaves[name] = [value]
        grids = tuple(g.clone().requires_grad_("texture" in self.config.groups)
                      for g in self.start.texture)
        if "texture" in self.config.groups:
            leaves["texture"] = list(grids)
        self.head = HeadParams(**values, texture=grids, styles=self.start.styles)
        return leaves

    def _step(self, step, leaves, optimizer, weights, generator) -> StepResult:
        config, head, timer = self.config, self.head, _Timer()
        optimizer.zero_grad(set_to_none=True)
        with timer("decode"):
            decoded = self.model.decode(head, config.texture_size)
        cameras = Cameras.sample_views(generator, config.views, yaw_range=config.yaw_range,
                                       device=self.device)
        lights = Lights.random(generator, config.views, device=self.device)
        background = torch.rand(config.views, 3, generator=generator).to(self.device)
        with timer("render"):
            images = self.model_render(head, decoded, cameras, lights, background)
        with timer("clip"):
            terms = self._clip_terms(images, cameras, lights, background, weights, generator)
        terms.update(self._prior_terms(head, decoded, weights))
        total = sum(weights[name] * value for name, value in terms.items())
        skipped = not bool(torch.isfinite(total))
        if not skipped:
            with timer("backward"):
                total.backward()
            with timer("optimizer"):
                self._unlock_texture_levels(step, leaves)
                optimizer.step()
                self._clamp()
        losses = {name: float(value.detach()) for name, value in terms.items()}
        losses["total"] = float(total.detach())
        return StepResult(step=step, losses=losses, head=self.head.detach(), seconds=0.0,
                          timings=timer.seconds, skipped=skipped)

    def _clip_terms(self, images, cameras, lights, background, weights, generator):
        """CLIP loss terms (unweighted): against the prompt, or against the reference head."""
        config = self.config
        if self.reference is not None:
            target = self._fixed_head_renders(self.reference, cameras, lights, background)
            return {"clip": self.guide.image_loss(images.rgb, images.alpha, target,
                                                  generator=generator,
                                                  n_augment=config.augmentations)}
        neutral = None
        if weights["directional"] > 0:
            neutral = self._fixed_head_renders(self.start, cameras, lights, background)
        yaw = _camera_yaw(cameras) if config.view_prompts else None
        terms = self.guide.loss(
            images.rgb, images.alpha, config.prompt, negative=config.negative,
            neutral=neutral, generator=generator, n_augment=config.augmentations, yaw=yaw,
        )
        return {k: v for k, v in terms.items() if k != "total"}

    def model_render(self, head, decoded, cameras, lights, background):
        """Render the decoded head (batch of one) and its parts from every camera."""
        return render_scene(self.model, head, decoded, cameras, lights=lights,
                            background=background, resolution=self.config.resolution,
                            occlusion_cache=self.occlusion)

    def _fixed_head_renders(self, head, cameras, lights, background):
        """(rgb, alpha) of a head that is not optimized, from this step's cameras."""
        with torch.no_grad():
            out = self.model_render(head, self.model.decode(head, self.config.texture_size),
                                    cameras, lights, background)
        return out.rgb, out.alpha

    def _prior_terms(self, head, decoded, weights) -> dict[str, torch.Tensor]:
        """The priors whose weight is non-zero (skipping the others saves their cost)."""
        model = self.model

        def wanted(name: str) -> bool:
            return weights[name] > 0

        terms = {k: v for k, v in priors.group_priors(model, head).items() if wanted(k)}
        if wanted("expression_sparsity"):
            terms["expression_sparsity"] = priors.expression_sparsity(head)
        if wanted("texture_smoothness") and "texture" in self.config.groups:
            terms["texture_smoothness"] = priors.texture_smoothness(head)
        if wanted("shape_symmetry"):
            rest = decoded.vertices @ decoded.rotation
            terms["shape_symmetry"] = priors.shape_symmetry(model, rest)
        if wanted("texture_symmetry"):
            terms["texture_symmetry"] = priors.texture_symmetry(model, decoded.vertex_colors)
        if wanted("identity_preservation"):
            terms["identity_preservation"] = priors.identity_preservation(model, head, self.start)
        return terms

    def _unlock_texture_levels(self, step: int, leaves) -> None:
        """Coarse to fine: level i of the residual starts moving at i/(L-1) of half the run."""
        levels = leaves.get("texture", [])
        for index, grid in enumerate(levels):
            unlock = math.floor(0.5 * self.config.steps * index / max(len(levels) - 1, 1))
            if step <= unlock and grid.grad is not None:
                grid.grad.zero_()

    @torch.no_grad()
    def _clamp(self) -> None:
        for name, value in self.head.groups():
            if value.requires_grad:
                spec = self.model.specs[name]
                value.copy_(value.clamp(spec.column("low", value), spec.column("high", value)))
        for grid in self.head.texture:
            grid.clamp_(-TEXTURE_LIMIT, TEXTURE_LIMIT)

    def _preview(self, result: StepResult, cameras: Cameras) -> None:
        """Render and score the step's head; keep it when it is the best so far."""
        result.preview, result.clip_score = self._score(result.head, cameras)
        result.is_best = self._keep_if_best(result, result.clip_score)

    @torch.no_grad()
    def _score(self, head: HeadParams, cameras: Cameras) -> tuple[torch.Tensor, float]:
        """Renders of `head` from the fixed views and their mean CLIP score to the prompt."""
        decoded = self.model.decode(head, self.config.texture_size)
        images = self.model_render(head, decoded, cameras, None, 1.0).rgb
        return images, float(self.guide.clip_score(images, self.config.prompt).mean())

    def _keep_if_best(self, result: StepResult, score: float) -> bool:
        """Make the step's head the best if it scores higher (a skipped step never is)."""
        if result.skipped or not (self.best is None or score > self.best.clip_score):
            return False
        self.best = BestHead(result.head, score, result.step)
        return True


def prompt_notices(guide: CLIPGuide, config: RunConfig) -> tuple[str, ...]:
    """A sentence for each of the run's prompts (the prompt, the negative prompt) that CLIP
    cuts to its context length, whether or not the guide has encoded it before."""
    phrasings = {"prompt": [config.prompt], "negative prompt": [config.negative]}
    if config.view_prompts:  # the loss reads the prompt behind a view prefix
        phrasings["prompt"] += [view_prompt(config.prompt, yaw) for yaw in (0.0, 90.0, 180.0)]
    cut = set(guide.truncated_prompts([p for texts in phrasings.values() for p in texts if p]))
    length = guide.context_length
    return tuple(f"the {name} is longer than CLIP reads ({length} tokens); only its first "
                 f"{length} tokens guide the run"
                 for name, texts in phrasings.items() if cut.intersection(texts))


class _Timer:
    """Accumulates wall time per named phase of a step."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _camera_yaw(cameras: Cameras) -> torch.Tensor:
    """Yaw of each camera in degrees, from its position."""
    eye = cameras.eye
    return torch.rad2deg(torch.atan2(eye[:, 0], eye[:, 2]))

