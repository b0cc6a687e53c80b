"""How much one app lets its visitors hold, and for how long; set by environment variables
(README, "Hosting"). A bad value stops the app at start with a one-line error naming the
variable, never later in a visitor's request."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

ENV_VARS = {  # field -> environment variable
    "idle_seconds": "TEXT2HEAD_IDLE_SECONDS",
    "max_sessions": "TEXT2HEAD_MAX_SESSIONS",
    "session_megabytes": "TEXT2HEAD_SESSION_MB",
    "clip_retry_seconds": "TEXT2HEAD_CLIP_RETRY_SECONDS",
    "upload_seconds": "TEXT2HEAD_UPLOAD_SECONDS",
}


@dataclass(frozen=True)
class Limits:
    """The studio's limits (defaults sized for a free 2-vCPU Space with 50 GB of disk)."""

    idle_seconds: float = 600.0  # a session with no page, run or call for this long ends
    max_sessions: int = 50  # live sessions; one more is told the server is busy
    session_megabytes: float = 300.0  # files one session keeps (its oldest go first)
    clip_retry_seconds: float = 300.0  # a CLIP download that failed is not retried sooner
    upload_seconds: float = 120.0  # an upload no event has taken by then is deleted

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            whole = spec.type == "int"
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not math.isfinite(value) or value <= 0 or (whole and value != int(value)):
                kind = "a positive whole number" if whole else "a positive number"
                raise ValueError(f"{ENV_VARS[spec.name]} must be {kind}, got {value!r}")

    @property
    def session_bytes(self) -> int:
        return int(self.session_megabytes * 1_000_000)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The limits set in the environment (unset or empty: the default)."""
        values = {}
        for spec in fields(cls):
            text = environ.get(ENV_VARS[spec.name], "").strip()
            if not text:
                continue
            try:
                values[spec.name] = int(text) if spec.type == "int" else float(text)
            except ValueError:
                raise ValueError(f"{ENV_VARS[spec.name]} must be a positive "
                                 f"{'whole ' if spec.type == 'int' else ''}number, got "
                                 f"{text!r}") from None
        return cls(**values)
