"""The word-list inspector: prompts that contain a listed term may not pass.

The file (``IMAGESCOPE_INSPECTION_WORDS``) holds one term per line; blank lines and lines
starting with ``#`` are skipped. A term may be several words ("red flag" also matches
"Red   Flag"). Terms and prompts are compared after Unicode NFKC normalisation and case
folding, so "ＢＡＤ" and "Bad" match "bad".

A term matches as a whole word: "kill" refuses "Kill it" but neither "skill" nor "killer" (list
each form to refuse) — a substring list refuses too much harmless text to be usable. A term holding a character of a
script written without spaces between words (Chinese, Japanese, Korean, Thai) matches
anywhere in the text instead, since there no word boundary can be seen.

Only text is checked: ``check_image`` passes every image (the moderation endpoint judges
images).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image

from imagescope.inspection import InspectionFailed

# Scripts written without spaces between words: a term holding one of their characters matches
# as a substring. Thai; Hangul Jamo; CJK radicals to Yi (kana, CJK ideographs, ...); Hangul
# syllables; CJK compatibility ideographs; the halfwidth and fullwidth forms.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def normalized(text: str) -> str:
    """``text`` as terms and prompts are compared: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def read_terms(path: Path) -> list[str]:
    """The terms of a word-list file. OSError or UnicodeDecodeError when it cannot be read."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _pattern(term: str) -> str:
    words = normalized(term).split()
    body = r"\s+".join(re.escape(word) for word in words)
    if _UNSPACED.search(body):
        return body
    return rf"(?<!\w){body}(?!\w)"  # a whole word: no letter or digit touches it on either side


class WordList:
    """Refuses a text holding any of ``terms`` (the rules are this module's docstring)."""

    def __init__(self, terms: Iterable[str]):
        patterns = [_pattern(term) for term in terms if term.split()]
        self.terms = len(patterns)
        self._match = re.compile("|".join(patterns)) if patterns else None

    @classmethod
    def from_file(cls, path: Path) -> WordList:
        return cls(read_terms(path))

    def check_text(self, texts: Sequence[str]) -> None:
        if self._match is None:
            return
        for text in texts:
            if self._match.search(normalized(text)):
                raise InspectionFailed("the text holds a listed term")

    def check_image(self, image: Image.Image) -> None:
        return None
