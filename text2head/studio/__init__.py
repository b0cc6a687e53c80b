"""The web studio's logic, kept out of `app.py` so that it is testable without a browser or a
server: run controls (`controls`), a run in a worker thread (`worker`), the candidates grid
(`grid`), one visitor's head, run and files (`session`), what sessions share and how they
end (`studio`), where files live (`storage`), the limits sessions live within (`limits`),
uploads (`uploads`), the checked boundary every endpoint's inputs pass (`inputs`, and
`hosting` where it meets Gradio's server), and what each of the app's events does
(`handlers`)."""

from text2head.studio.controls import (
    WEIGHT_CONTROLS,
    WeightControl,
    clip_choices,
    clip_label,
    learning_rates,
    loss_figure,
    preview_image,
    run_weights,
)
from text2head.studio.session import Downloads, Session, SessionEnded, downloads_from
from text2head.studio.studio import Studio
from text2head.studio.worker import RunWorker, Update, status_line, weights_line

__all__ = [
    "WEIGHT_CONTROLS", "Downloads", "RunWorker", "Session", "SessionEnded", "Studio",
    "Update", "WeightControl", "clip_choices", "clip_label", "downloads_from",
    "learning_rates", "loss_figure", "preview_image", "run_weights", "status_line",
    "weights_line",
]
