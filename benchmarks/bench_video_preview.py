"""Preview video engine figures: CPU seconds per second of video, and the MP4's size.

    python benchmarks/bench_video_preview.py [--repeats 5] [--fps 30] [--duration 5]
        [--sizes 832x480 1280x720 1920x1080] [--threads 4] [--image-to-video]

One row per size: the median over --repeats of the CPU seconds (time.process_time: every
thread of the process, x264's included) and wall seconds the engine took per second of video,
the CPU seconds of drawing the frames alone (no encoding), and the MP4's size and bitrate.
The issue's bar: a 5 s 832*480 preview well under a second of CPU per second of video.
``--threads`` sets x264's thread count (the engine's fixed default is 4); ``--image-to-video``
starts each clip from a picture (the drift and fade of i2v instead of the text-to-video pan).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image

from imagescope.engines.video import PreviewVideoEngine, VideoJob
from imagescope.engines.video import mp4 as video_mp4
from imagescope.engines.video import preview as video_preview


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["832x480", "1280x720", "1920x1080"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--image-to-video", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:
        video_mp4.X264_OPTIONS["threads"] = str(args.threads)
    engine = PreviewVideoEngine()
    print(f"x264 {video_mp4.X264_OPTIONS}, {args.fps} fps, {args.duration:g} s, median of {args.repeats}")
    print(f"{'size':>10} {'CPU s/s':>8} {'wall s/s':>8} {'draw s/s':>8} {'MP4 KiB':>8} {'kbit/s':>7}")
    for size in args.sizes:
        width, height = (int(side) for side in size.split("x"))
        first = None
        if args.image_to_video:
            ramp = np.linspace(0, 255, width * height * 3).reshape(height, width, 3).astype(np.uint8)
            first = Image.fromarray(ramp, "RGB")
        job = VideoJob("wan2.1-t2v-turbo", "a cat running on the beach at sunset, 一只橘猫", "", width, height,
                       args.fps, args.duration, 42, first_frame=first)  # fmt: skip
        cpu, wall, draw = [], [], []
        mp4 = b""
        for _ in range(args.repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            mp4 = engine.make(job)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
            c0 = time.process_time()
            clip = video_preview._Clip(job)
            for index in range(clip.total):
                clip.draw(index)
            draw.append(time.process_time() - c0)
        per = args.duration
        print(
            f"{size:>10} {statistics.median(cpu) / per:8.3f} {statistics.median(wall) / per:8.3f} "
            f"{statistics.median(draw) / per:8.3f} {len(mp4) / 1024:8.0f} {len(mp4) * 8 / 1000 / per:7.0f}"
        )


if __name__ == "__main__":
    main()
