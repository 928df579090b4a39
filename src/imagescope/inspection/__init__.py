"""Content inspection: a check of what a request says and shows before it is accepted, and of
each output image before it is stored (spec: ``DataInspectionFailed``, a documented error of
every endpoint).

The seam is ``Inspector``: ``check_text`` and ``check_image`` return quietly or raise
``InspectionFailed``. The acceptor checks the prompt, the negative prompt and the input images
kept at submission (a 400 ``DataInspectionFailed`` before anything is accepted); the worker
checks input images it fetched when the task runs (the task FAILS with that code) and every
output image before it is stored (that image becomes a ``DataInspectionFailed`` part of a
partially failed task, unbilled). ``NoInspection``, the default, passes everything.

An inspector that cannot answer (its moderation endpoint down) raises ``InspectionUnavailable``
when it fails closed: the caller hears of the service's trouble (a submission: 503
ServiceUnavailable; in the worker: InternalError), never that its content was judged.

The inspectors: ``words.WordList`` (a file of terms, text only), ``moderation.ModerationEndpoint``
(an OpenAI-compatible ``/moderations`` endpoint), combined by ``configured.make_inspector``.
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


class InspectionUnavailable(Exception):
    """The inspector could not say (its endpoint timed out, failed or answered nonsense) and
    fails closed: nothing passes, and the caller is told the service failed, not its content."""


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
