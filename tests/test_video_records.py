"""Video requests and results in the tasks table: stored as JSON beside the image rows, read
back whole (VACE's function and options included), and the older rows still read."""

from __future__ import annotations

import json

from imagescope.tasks.records import request_from_json, request_to_json, results_from_json, results_to_json
from imagescope.tasks.spec import (
    ErrorPart,
    GenerationRequest,
    ImagePart,
    TaskKind,
    VaceFunction,
    VaceOptions,
    VideoPart,
    VideoSpec,
)


def test_a_vace_request_reads_back_as_it_was_stored():
    video = VideoSpec(
        duration=5,
        fps=30,
        resolution="720P",
        function=VaceFunction.IMAGE_REFERENCE,
        reference_images=("stored:t/inputs/ref_images_url0", "https://example.com/b.png"),
        vace=VaceOptions(obj_or_bg=("obj", "bg")),
    )
    request = GenerationRequest(
        "wanx2.1-vace-plus", "x", "", (1280, 720), 1, 7, True, False, kind=TaskKind.VIDEO, options=video
    )
    stored = request_to_json(request)
    assert json.loads(stored)["function"] == "video"
    assert request_from_json(stored) == request


def test_an_image_to_video_request_keeps_its_size_open_until_the_first_frame_is_read():
    video = VideoSpec(duration=3, fps=30, resolution="480P", first_frame="stored:t/inputs/img_url")
    request = GenerationRequest(
        "wan2.1-i2v-turbo", "", "", None, 1, 7, False, False, kind=TaskKind.VIDEO, options=video
    )
    assert request_from_json(request_to_json(request)) == request


def test_a_video_part_reads_back_and_image_rows_still_read():
    parts = [VideoPart(0, "t/0.mp4", 832, 480, 30, 150, 5)]
    assert results_from_json(results_to_json(parts)) == parts
    old = '[{"index": 0, "file": "t/0.png", "width": 8, "height": 8}, {"index": 1, "code": "c", "message": "m"}]'
    assert results_from_json(old) == [ImagePart(0, "t/0.png", 8, 8), ErrorPart(1, "c", "m")]
