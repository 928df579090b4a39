"""The tasks table's JSON columns: one serializer each way, in the format rows have always held,
so tasks written before the typed request and result parts read back unchanged."""

from __future__ import annotations

import json

import pytest

from imagescope.tasks.records import request_from_json, request_to_json, results_from_json, results_to_json
from imagescope.tasks.spec import (
    Doodle,
    ErrorPart,
    ExpandScales,
    Function,
    GenerationRequest,
    ImagePart,
    InterleaveLimit,
    OutputArea,
    Strength,
    TaskKind,
    TextPart,
    Upscale,
)


def stored(width: int, height: int, function: str, images: list[str], mask: str, options: dict) -> str:
    """A request row as the tasks table held it before these types (GenerationRequest.to_dict)."""
    return json.dumps(
        {
            "model": "m",
            "prompt": "p",
            "negative_prompt": "",
            "width": width,
            "height": height,
            "n": 1,
            "seed": 7,
            "prompt_extend": False,
            "watermark": False,
            "function": function,
            "images": images,
            "mask": mask,
            "options": options,
        },
        ensure_ascii=False,
    )


REQUESTS = [
    (stored(1328, 1328, "", [], "", {}), TaskKind.GENERATE, None, (1328, 1328), None),
    (
        stored(
            0,
            0,
            "expand",
            ["stored:t/inputs/base_image_url"],
            "",
            {"top_scale": 1.5, "bottom_scale": 1.0, "left_scale": 2.0, "right_scale": 1.0},
        ),
        TaskKind.EDIT,
        Function.EXPAND,
        None,
        ExpandScales(1.5, 1.0, 2.0, 1.0),
    ),
    (
        stored(0, 0, "description_edit", ["https://example.com/a.png"], "", {"strength": 0.3}),
        TaskKind.EDIT,
        Function.DESCRIPTION_EDIT,
        None,
        Strength(0.3),
    ),
    (
        stored(0, 0, "super_resolution", ["https://example.com/a.png"], "", {"upscale_factor": 2}),
        TaskKind.EDIT,
        Function.SUPER_RESOLUTION,
        None,
        Upscale(2),
    ),
    (
        stored(0, 0, "doodle", ["https://example.com/a.png"], "", {"is_sketch": True}),
        TaskKind.EDIT,
        Function.DOODLE,
        None,
        Doodle(True),
    ),
    (
        stored(0, 0, "colorization", ["https://example.com/a.png"], "", {}),
        TaskKind.EDIT,
        Function.COLORIZATION,
        None,
        None,
    ),
    (
        stored(0, 0, "edit", ["https://example.com/a.png", "https://example.com/b.png"], "", {"area": 1638400}),
        TaskKind.EDIT,
        None,
        None,
        OutputArea(1638400),
    ),
    (stored(1024, 768, "edit", ["https://example.com/a.png"], "", {}), TaskKind.EDIT, None, (1024, 768), None),
    (
        stored(1280, 1280, "interleave", [], "", {"max_images": 3}),
        TaskKind.INTERLEAVE,
        None,
        (1280, 1280),
        InterleaveLimit(3),
    ),
]


@pytest.mark.parametrize("text, kind, function, size, options", REQUESTS)
def test_stored_requests_read_back_typed_and_are_written_byte_for_byte_as_before(text, kind, function, size, options):
    request = request_from_json(text)
    assert (request.kind, request.function, request.size, request.options) == (kind, function, size, options)
    assert request_to_json(request) == text


def test_a_mask_and_non_ascii_prompts_are_kept():
    request = GenerationRequest(
        "wanx2.1-imageedit",
        "一只猫",
        "",
        None,
        2,
        1,
        False,
        True,
        kind=TaskKind.EDIT,
        function=Function.DESCRIPTION_EDIT_WITH_MASK,
        images=("stored:a",),
        mask="stored:b",
    )
    assert "一只猫" in request_to_json(request)
    assert request_from_json(request_to_json(request)) == request


def test_result_parts_keep_the_stored_keys():
    parts = [ImagePart(0, "t/0.png", 512, 256), TextPart(1, "第一步"), ErrorPart(2, "InvalidParameter", "no")]
    text = results_to_json(parts)
    assert json.loads(text) == [
        {"index": 0, "file": "t/0.png", "width": 512, "height": 256},
        {"index": 1, "text": "第一步"},
        {"index": 2, "code": "InvalidParameter", "message": "no"},
    ]
    assert "第一步" in text and results_from_json(text) == parts
    assert results_from_json(None) == results_from_json("") == []


def test_a_request_outside_the_combinations_the_parsers_make_is_refused():
    with pytest.raises(ValueError):
        GenerationRequest("m", "p", "", None, 1, 1, False, False)  # text to image with no size
    with pytest.raises(ValueError):
        GenerationRequest("m", "p", "", (512, 512), 1, 1, False, False, kind=TaskKind.INTERLEAVE)  # no max_images
    with pytest.raises(ValueError):
        GenerationRequest("m", "p", "", (512, 512), 1, 1, False, False, function=Function.EXPAND)


def test_function_members_are_their_wire_strings():
    assert Function.EXPAND == "expand" and f"{Function.EXPAND}" == "expand"
    assert "super_resolution" in frozenset(Function) and len(Function) == 10
