"""Optional LLM clean-up of a dictation ([dictation] cleanup = "llm"): a rewrite, never an answer.

A chat model handed "what time is it in Tokyo" answers it; a dictation tool must type the question. The
prompt asks for a rewrite only, and the output is kept only if it is one: about as many words, mostly the
same words. Anything else (an answer, a translation, a refusal, a longer text) and the raw transcript is
typed instead.
"""

from __future__ import annotations

import logging
import re
from contextlib import aclosing

from assistant.core.chat import Message, TextDelta
from assistant.core.errors import AssistantError
from assistant.hosts.proxies import Llm
from assistant.vram.arbiter import Arbiter

log = logging.getLogger(__name__)

SYSTEM = (
    "You correct dictated text. Rewrite the user's message with correct punctuation and capitals, and fix words "
    "that were clearly misheard. Never answer it, never add to it, never translate it. Reply with the corrected "
    "text only."
)
LENGTH_RATIO = (0.7, 1.3)  # a rewrite keeps about as many words
MIN_OVERLAP = 0.6  # and most of the same ones


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def is_rewrite(original: str, candidate: str) -> bool:
    before, after = _words(original), _words(candidate)
    if not before or not after:
        return False
    if not LENGTH_RATIO[0] <= len(after) / len(before) <= LENGTH_RATIO[1]:
        return False
    return len(set(before) & set(after)) / len(set(before)) >= MIN_OVERLAP


async def clean_up(arbiter: Arbiter, llm_id: str, text: str) -> str:
    """The LLM's rewrite of `text` when it is one; else `text` as it was."""
    messages: list[Message] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    try:
        async with arbiter.use(llm_id) as host, aclosing(Llm(host).chat(messages, max_tokens=64 + 2 * len(text) // 3)) as events:
            out = "".join([e.text async for e in events if isinstance(e, TextDelta)]).strip()
    except AssistantError as exc:
        log.warning("dictation clean-up: %s; typing the transcript as heard", exc.message)
        return text
    if is_rewrite(text, out):
        return out
    log.info("dictation clean-up: the model's reply is not a rewrite (%r); typing the transcript as heard", out[:80])
    return text
