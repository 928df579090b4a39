"""The deployment's inspector, built from its settings: every configured inspector in turn,
each of which must pass (the word list first: it is free, and a listed word never reaches the
moderation endpoint); none configured: ``NoInspection``."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from imagescope.config import InspectionSettings
from imagescope.inspection import Inspector, NoInspection
from imagescope.inspection.moderation import ModerationEndpoint
from imagescope.inspection.words import WordList


class AllOf:
    """Passes what every one of ``inspectors`` passes."""

    def __init__(self, inspectors: Sequence[Inspector]):
        self.inspectors = tuple(inspectors)

    def check_text(self, texts: Sequence[str]) -> None:
        for inspector in self.inspectors:
            inspector.check_text(texts)

    def check_image(self, image: Image.Image) -> None:
        for inspector in self.inspectors:
            inspector.check_image(image)


def make_inspector(settings: InspectionSettings) -> Inspector:
    inspectors: list[Inspector] = []
    if settings.words is not None:
        inspectors.append(WordList.from_file(settings.words))
    if settings.url:
        inspectors.append(
            ModerationEndpoint(settings.url, settings.api_key, settings.model, settings.timeout_s, settings.fail_open)
        )
    if not inspectors:
        return NoInspection()
    return inspectors[0] if len(inspectors) == 1 else AllOf(inspectors)
