"""Faults against one `python app.py`: visitors killed mid-run, a quiet HTTP-only caller,
SIGTERM mid-run and a restart; prints one JSON line, exits 1 if a limit fails (2: could not
measure).

Run: python bench/faults.py [--idle-s 5] [--settle-s 60] [--keep]
One app subprocess with the random tiny CLIP (a test fixture, labelled in the output), private
TMPDIR and GRADIO_TEMP_DIR, and TEXT2HEAD_IDLE_SECONDS=--idle-s (sessions of HTTP-only callers
expire after that idle time). Phases: (1) two gradio_client processes start long runs and are
SIGKILLed once their runs stream; (2) a raw-HTTP caller (POST /gradio_api/call/export, GET the
result and the GLB, no heartbeat) goes quiet; (3) up to --settle-s plus --idle-s for the bytes
under both folders to return to their value before (1); (4) a fresh client starts a long run
and the app gets SIGTERM mid-run: exit time and code, and what is left under both folders;
(5) `python app.py` again on the same folders: seconds until the page (HTTP 200) and until
/random_head answers, then SIGTERM. Limits: back to the baseline in (3), no leftover entries
after (3), (4) and (5) (paths listed), exit within 30 s of SIGTERM, the restart serves.
"""

from __future__ import annotations

import argparse
import sys

import hosting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=hosting.IDLE_SECONDS,
                        help="TEXT2HEAD_IDLE_SECONDS for the app")
    parser.add_argument("--settle-s", type=float, default=hosting.SETTLE_SECONDS)
    parser.add_argument("--keep", action="store_true", help="keep the private folder")
    parser.add_argument("--limit-s", type=float, default=1800, help="the whole run's limit")
    args = parser.parse_args()
    with hosting.guarded(args.limit_s):
        figures = hosting.run_faults(args.idle_s, args.settle_s, keep=args.keep)
    print(hosting.figures_line(figures))
    return hosting.exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
