"""Step pace through the web app versus the bare engine, time from click to first preview, and
time from click to the four candidates on screen (issue 17: at most 1 s); prints one JSON line.

Run: python bench/app.py [--clip random:ViT-B-32] [--steps 30] [--repeats 2] [--device cpu]
The app is launched in-process on a loopback port and driven by gradio_client, which receives
every streamed update as a browser would, so the app figure includes all of the server's UI
work (previews, loss chart, 3D viewer GLBs); the candidates are on screen once the grid's
update has come and its four thumbnails are fetched, all at once as a page fetches them.
Random weights of the real architecture cost the same as the real weights (labelled in the
output).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch
from gradio_client import Client

from text2head import api
from text2head.candidates import DEFAULT_COUNT
from text2head.guidance import CLIP_ENV_VAR
from text2head.studio import Studio

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "an old man with a big nose, laughing"
CANDIDATES_LIMIT_S = 1.0  # issue 17: click to four candidates on screen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="random:ViT-B-32")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternating bare/app pairs")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    parser.add_argument("--candidate-repeats", type=int, default=5,
                        help="Generate clicks timed to the candidates grid (new seeds each)")
    args = parser.parse_args()

    studio = Studio(device=args.device)
    start = time.perf_counter()
    guide = studio.guide(args.clip)
    figures = {"clip": guide.description, "device": studio.device, "steps": args.steps,
               "views": args.views, "load_clip_s": round(time.perf_counter() - start, 2)}
    bare, through_app, first_preview, to_candidates = [], [], [], []
    bare_pace(studio, args, steps=3)  # warm-up: first-use costs of torch and the renderer
    with launched(studio, args.clip) as url:
        client = Client(url, verbose=False)
        try:
            for _ in range(args.repeats):  # alternate, so that machine noise hits both alike
                bare.append(bare_pace(studio, args))
                pace, seconds = app_pace(client, studio, args)
                through_app.append(pace)
                first_preview.append(seconds)
            page = Client(url, verbose=False, download_files=False)  # fetches as a page does
            try:
                for repeat in range(args.candidate_repeats):
                    to_candidates.append(candidates_latency(page, args, seed=100 + 10 * repeat))
            finally:
                page.close()
        finally:
            client.close()
    figures["engine_step_s"] = round(statistics.median(bare), 3)
    figures["app_step_s"] = round(statistics.median(through_app), 3)
    figures["app_over_engine"] = round(figures["app_step_s"] / figures["engine_step_s"], 3)
    figures["click_to_first_preview_s"] = round(min(first_preview), 2)
    if to_candidates:
        figures["click_to_candidates_s"] = round(statistics.median(to_candidates), 2)
        figures["click_to_candidates_max_s"] = round(max(to_candidates), 2)
        figures["click_to_candidates_limit_s"] = CANDIDATES_LIMIT_S
    figures["threads"] = torch.get_num_threads()
    figures["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine
    print(json.dumps(figures, ensure_ascii=False))
    studio.close()


def pace(step_ends: list[float]) -> float:
    """Seconds per step from the end of the first step to the end of the last: the steady
    pace, without the set-up that comes before the first step."""
    return (step_ends[-1] - step_ends[0]) / (len(step_ends) - 1)


def bare_pace(studio: Studio, args, steps: int | None = None) -> float:
    """The engine alone, iterated in a worker thread like the app's runs (on an oversubscribed
    CPU, torch's OpenMP threads are far slower when driven from the main thread)."""
    run = api.prepare(PROMPT, clip=studio.guide(args.clip), device=studio.device,
                      model=studio.model, steps=steps or args.steps, views=args.views)
    step_ends = []

    def iterate() -> None:
        for _ in run:
            step_ends.append(time.monotonic())

    worker = threading.Thread(target=iterate)
    worker.start()
    worker.join()
    return pace(step_ends)


def app_pace(client: Client, studio: Studio, args) -> tuple[float, float]:
    """(seconds per step, seconds from the click to the first preview on the client)."""
    clicked = time.monotonic()
    job = client.submit(prompt=PROMPT, steps=args.steps, views=args.views, clip=args.clip,
                        api_name="/generate")
    first_preview = None
    while not job.done():
        if first_preview is None and any(output[0] for output in job.outputs()):
            first_preview = time.monotonic() - clicked
        time.sleep(0.05)
    job.result()
    worker = studio.session(client.session_hash).worker
    return pace(worker.step_ends), first_preview


def candidates_latency(page: Client, args, seed: int) -> float:
    """Seconds from a Generate click (a seed no call used) to the four candidates on screen:
    the grid's update received and its thumbnails fetched, at once; then the shortest run of
    the best one is waited for. `page` leaves the files to fetch (gradio_client would
    download them one after the other)."""
    clicked = time.monotonic()
    job = page.submit(prompt=PROMPT, seed=seed, steps=5, views=1, clip=args.clip,
                      api_name="/generate")
    grid = None
    while grid is None:
        grid = next((output[-1] for output in job.outputs()
                     if isinstance(output[-1], list) and len(output[-1]) == DEFAULT_COUNT),
                    None)
        if grid is None and job.done():
            raise RuntimeError(f"/generate ended without candidates: {job.exception()}")
        time.sleep(0.005)
    with httpx.Client() as http, ThreadPoolExecutor(len(grid)) as fetching:
        for answer in fetching.map(lambda item: http.get(item["image"]["url"]), grid):
            answer.raise_for_status()
    seconds = time.monotonic() - clicked
    job.result()
    return seconds


@contextlib.contextmanager
def launched(studio: Studio, clip: str):
    spec = importlib.util.spec_from_file_location("text2head_app", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ[CLIP_ENV_VAR] = clip  # the app offers (and accepts) only its configured CLIP
    demo = app.build_app(studio)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port,
                            quiet=True)
    try:
        yield url
    finally:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
            demo.close()


if __name__ == "__main__":
    main()
