"""An independent check that renders read as faces (issue 16): MediaPipe's face detector and
face mesh, run on preview renders of random heads. Shared by tests/test_face_detection.py and
bench/faces.py.

MediaPipe 0.10.14 is a test-only dependency (scripts/test.sh installs it; newer wheels no longer
bundle the models). Both run on a square crop of the render around the head (its bounding box
plus a margin): the preview views frame the whole head with room around it, and the crop is the
framing a face detector expects (it lifted today's profile scores, median 0.71 to 0.75, and left
the front and three-quarter ones about where they were). The short-range detector
(model_selection=0) is used: it is meant for faces that fill much of the frame, as they do in the
crop, and it scored every view higher than the full-range one (model_selection=1), which missed
some three-quarter views and most profiles outright.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import mediapipe as mp
import numpy as np
import torch

from text2head.heads import HeadModel, HeadParams
from text2head.preview import render_scene
from text2head.render import Cameras

VIEWS = ("front", "three_quarter", "left")
RESOLUTION = 384  # the studio's preview size
SEEDS = range(20)
# The acceptance of issue 16: a detector score per view; front and three-quarter views must also
# be fitted by the face mesh.
THRESHOLDS = {"front": 0.9, "three_quarter": 0.9, "left": 0.75}
MESH_VIEWS = ("front", "three_quarter")

CROP_MARGIN = 0.15  # of the head's larger side, on every side of its bounding box
BACKGROUND = 255  # the preview's white background
FIT_TOLERANCE = 0.02  # of the crop's side: how far landmarks may stray outside the head's box
MIN_FACE_HEIGHT = 0.35  # of the head's height: a mesh smaller than this fits no face
# Face-mesh landmark indices (MediaPipe's canonical 468-point topology).
EYES = (33, 133, 159, 145, 263, 362, 386, 374)  # corners and lids of both eyes
NOSE_TIP = 1
MOUTH = (13, 14, 61, 291)  # inner lips and corners
# The expression measures' landmarks (issue 17): the person's right then left side.
INNER_LIPS = (13, 14)  # middle of the upper and of the lower inner lip
MOUTH_CORNERS = (61, 291)
EYE_LIDS = ((159, 145), (386, 374))  # (upper, lower) lid of each eye
OUTER_EYE_CORNERS = (33, 263)
INNER_EYE_CORNERS = (133, 362)
INNER_BROWS = (107, 336)


@dataclass(frozen=True)
class FaceCheck:
    """What MediaPipe makes of one render."""

    score: float  # best face-detection score, 0 when nothing was detected
    mesh_found: bool  # the face mesh found a face
    mesh_fits: bool  # ... and its landmarks fit the head (see mesh_fits)


def crop_to_head(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A square crop around the head's bounding box (mask: the render's coverage) plus a
    margin, padded with the (white) background, and the mask cropped alike: the short-range
    detector expects a face that fills the frame, and the preview views frame the whole head
    with room around it."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("the render shows no head")
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = round(max(bottom - top, right - left) * (1 + 2 * CROP_MARGIN))
    y0 = (top + bottom - side) // 2
    x0 = (left + right - side) // 2
    crop = np.full((side, side, 3), BACKGROUND, dtype=image.dtype)
    crop_mask = np.zeros((side, side), dtype=bool)
    ys = slice(max(y0, 0), min(y0 + side, image.shape[0]))
    xs = slice(max(x0, 0), min(x0 + side, image.shape[1]))
    crop[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = image[ys, xs]
    crop_mask[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = mask[ys, xs]
    return crop, crop_mask


def mesh_fits(landmarks: np.ndarray, mask: np.ndarray) -> bool:
    """Whether (468, 2) landmarks in pixels fit the head in `mask`: inside its bounding box (up to
    FIT_TOLERANCE), at least MIN_FACE_HEIGHT of its height, eyes above the nose tip above the
    mouth (image y grows downward)."""
    rows, cols = np.nonzero(mask)
    slack = FIT_TOLERANCE * mask.shape[0]
    low = np.array([cols.min(), rows.min()]) - slack
    high = np.array([cols.max(), rows.max()]) + slack
    inside = bool((landmarks >= low).all() and (landmarks <= high).all())
    face_height = np.ptp(landmarks[:, 1])
    sized = face_height >= MIN_FACE_HEIGHT * (rows.max() - rows.min())
    eye_y = landmarks[list(EYES), 1].max()
    mouth_y = landmarks[list(MOUTH), 1].min()
    ordered = bool(eye_y < landmarks[NOSE_TIP, 1] < mouth_y)
    return inside and bool(sized) and ordered


@dataclass(frozen=True)
class FaceMeasures:
    """An expression's geometry in a front view, each a length over the distance between the
    outer eye corners (so that it does not depend on the head's size in the image); positive
    `corner_lift` is corners above the mouth's centre."""

    mouth_open: float  # inner lips apart
    mouth_width: float  # corner to corner
    corner_lift: float  # the mouth's centre below its corners
    eye_open: float  # lids apart, both eyes' mean
    brow_height: float  # inner brow above the inner eye corner, both sides' mean

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def measure_face(landmarks: np.ndarray) -> FaceMeasures:
    """The expression measures of (468, 2) face-mesh landmarks in pixels (image y grows
    downward)."""
    def y(index: int) -> float:
        return float(landmarks[index, 1])

    def distance(a: int, b: int) -> float:
        return float(np.linalg.norm(landmarks[a] - landmarks[b]))

    scale = distance(*OUTER_EYE_CORNERS)
    centre = (y(INNER_LIPS[0]) + y(INNER_LIPS[1])) / 2
    return FaceMeasures(
        mouth_open=distance(*INNER_LIPS) / scale,
        mouth_width=distance(*MOUTH_CORNERS) / scale,
        corner_lift=(centre - np.mean([y(i) for i in MOUTH_CORNERS])) / scale,
        eye_open=np.mean([y(lower) - y(upper) for upper, lower in EYE_LIDS]) / scale,
        brow_height=np.mean([y(eye) - y(brow) for eye, brow
                             in zip(INNER_EYE_CORNERS, INNER_BROWS, strict=True)]) / scale,
    )


class FaceChecker:
    """MediaPipe's detector and face mesh, created once (each costs a model load) and reused."""

    def __init__(self) -> None:
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=0.05)
        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)

    def check(self, image: np.ndarray, mask: np.ndarray) -> FaceCheck:
        """Detector score and face-mesh fit for one (H, W, 3) uint8 RGB render of a head on
        the white background, cropped to the head (the (H, W) bool mask) first."""
        crop, mask = crop_to_head(image, mask)
        detections = self._detector.process(crop).detections or []
        score = max((detection.score[0] for detection in detections), default=0.0)
        landmarks = self._landmarks(crop)
        if landmarks is None:
            return FaceCheck(float(score), False, False)
        return FaceCheck(float(score), True, mesh_fits(landmarks, mask))

    def landmarks(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """The face mesh's (468, 2) landmarks in pixels of the head's crop (see `check`), or
        None when it finds no face."""
        return self._landmarks(crop_to_head(image, mask)[0])

    def _landmarks(self, crop: np.ndarray) -> np.ndarray | None:
        faces = self._mesh.process(crop).multi_face_landmarks
        if not faces:
            return None
        side = crop.shape[0]
        return np.array([(point.x * side, point.y * side) for point in faces[0].landmark])

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()


def render_views(model: HeadModel, head: HeadParams, views: Sequence[str] = VIEWS,
                 resolution: int = RESOLUTION) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{view: ((H, W, 3) uint8 RGB, (H, W) bool head mask)} of one head, all views rendered in
    one batch as the studio's previews are (studio light, white background); the mask is where
    the render covers the background by half or more."""
    with torch.no_grad():
        out = render_scene(model, head, model.decode(head), Cameras.named_views(list(views)),
                           resolution=resolution)
    pixels = (out.rgb.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    masks = out.alpha[:, 0].numpy() >= 0.5
    return {view: (image, mask) for view, image, mask in zip(views, pixels, masks, strict=True)}


def render_heads(
    model: HeadModel, seeds: Sequence[int] = SEEDS, views: Sequence[str] = VIEWS,
    resolution: int = RESOLUTION,
) -> Iterator[tuple[int, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """(seed, render_views of the random head of the seed) for each seed."""
    for seed in seeds:
        head = model.sample(torch.Generator().manual_seed(seed))
        yield seed, render_views(model, head, views, resolution)


def check_heads(model: HeadModel, checker: FaceChecker, seeds: Sequence[int] = SEEDS
                ) -> Iterator[tuple[int, str, np.ndarray, FaceCheck]]:
    """(seed, view, image, FaceCheck) for every view of the random head of each seed."""
    for seed, images in render_heads(model, seeds):
        for view, (image, mask) in images.items():
            yield seed, view, image, checker.check(image, mask)
