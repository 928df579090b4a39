"""Content inspection: a check of what a request says and shows before it is accepted, and of
each output image before it is stored (spec: ``DataInspectionFailed``, a documented error of
every endpoint).

The seam is ``Inspector``: ``check_text`` and ``check_image`` return quietly or raise
``InspectionFailed``. The acceptor checks the prompt, the negative prompt and the input images
kept at submission (a 400 ``DataInspectionFailed`` before anything is accepted); the worker
checks input images it fetched when the task runs (the task FAILS with that code) and every
output image before it is stored (that image becomes a ``DataInspectionFailed`` part of a
partially failed task, unbilled). ``NoInspection``, the default, passes everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from PIL import Image

DATA_INSPECTION_FAILED = "DataInspectionFailed"
INPUT_INSPECTION_MESSAGE = "Input data may contain inappropriate content."
OUTPUT_INSPECTION_MESSAGE = "Output data may contain inappropriate content."


class InspectionFailed(Exception):
    """What was inspected may not pass. Carries no detail for the caller: the hosted service
    says only which side (input or output) failed."""


@runtime_checkable
class Inspector(Protocol):
    def check_text(self, texts: Sequence[str]) -> None:
        """Raise ``InspectionFailed`` if any of ``texts`` may not pass."""

    def check_image(self, image: Image.Image) -> None:
        """Raise ``InspectionFailed`` if ``image`` may not pass."""


class NoInspection:
    """The default: inspection is off, everything passes."""

    def check_text(self, texts: Sequence[str]) -> None:
        return None

    def check_image(self, image: Image.Image) -> None:
        return None
