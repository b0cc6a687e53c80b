"""The README's animated preview of the talk clip: assets/talk.webp.

An instant head of a prompt (seed fixed) says a line; the preview is what `text2head animate
--clip talk` writes (front and three-quarter, rendered by text2head's renderer).

Run: python scripts/talk_preview.py [--prompt P] [--seed N] [--say LINE] [--out PATH]
"""

from __future__ import annotations

import argparse

from text2head import api
from text2head.animation.preview import save_preview
from text2head.animation.request import AnimationRequest, head_clips
from text2head.heads import HeadModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="a young woman with freckles and red lips, smiling")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--say", default="Hello! I was made from a sentence, and now I speak.")
    parser.add_argument("--out", default="assets/talk.webp")
    args = parser.parse_args()
    model = HeadModel()
    head, _, _ = api.instant(args.prompt, model=model, seed=args.seed)
    [clip] = head_clips(model, head, AnimationRequest(("talk",), args.say, args.seed))
    save_preview(model, head, clip, args.out)


if __name__ == "__main__":
    main()
