"""prompt_extend: rewriting a short prompt into a richer one, the ``actual_prompt``.

Two rewriters share one method, ``rewrite(prompt, model) -> str``:
- ``RuleBasedRewriter``: the embedded default; deterministic, offline, instant.
- ``ChatRewriter``: any OpenAI-compatible ``/chat/completions`` endpoint named in configuration.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Protocol

import httpx

from imagescope.config import RewriterSettings

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")

_STYLE_EN = (
    "balanced composition with a clear focal point",
    "soft natural light and gentle shadows",
    "rich yet harmonious colour palette",
    "fine textures and crisp details",
    "shallow depth of field and a clean background",
    "cinematic framing and atmospheric perspective",
)
_STYLE_ZH = (
    "构图均衡，主体突出",
    "柔和的自然光影",
    "色彩丰富而和谐",
    "细节清晰，质感细腻",
    "背景简洁，景深自然",
    "电影感构图，层次分明",
)

SYSTEM_PROMPT = (
    "You rewrite prompts for a text-to-image model. Keep every subject, text to render, "
    "style and constraint of the user's prompt; add concrete visual detail (composition, "
    "lighting, colour, texture). Answer with the rewritten prompt only, in the prompt's language."
)


class Rewriter(Protocol):
    def rewrite(self, prompt: str, model: str) -> str: ...


class RuleBasedRewriter:
    """Adds three descriptors picked by a hash of the prompt: same prompt, same result."""

    def rewrite(self, prompt: str, model: str) -> str:
        chinese = bool(_CJK.search(prompt))
        styles = _STYLE_ZH if chinese else _STYLE_EN
        start = hashlib.sha256(prompt.encode()).digest()[0] % len(styles)
        picked = [styles[(start + k) % len(styles)] for k in range(3)]
        base = prompt.strip().rstrip("。.!！")
        if chinese:
            return f"{base}。{'，'.join(picked)}，高清画质。"
        added = ", ".join(picked)
        return f"{base}. {added[0].upper()}{added[1:]}; high-quality, detailed rendering."


class ChatRewriter:
    """Asks an OpenAI-compatible chat endpoint; falls back to the rules if it fails,
    because a rewriting outage should not fail image generation."""

    def __init__(self, settings: RewriterSettings, fallback: Rewriter | None = None):
        self.settings = settings
        self.fallback = fallback or RuleBasedRewriter()

    def rewrite(self, prompt: str, model: str) -> str:
        url = self.settings.url.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        body = {
            "model": self.settings.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0,
        }
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=self.settings.timeout_s)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            if not isinstance(content, str):  # null or not text: the endpoint failed too
                raise TypeError(f"content is {type(content).__name__}, not text")
            text = content.strip()
            if text:
                return text
            log.warning("prompt rewriter at %s answered an empty prompt; using rules", url)
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("prompt rewriter at %s failed (%s); using rules", url, exc)
        return self.fallback.rewrite(prompt, model)


def make_rewriter(settings: RewriterSettings) -> Rewriter:
    return ChatRewriter(settings) if settings.url else RuleBasedRewriter()
