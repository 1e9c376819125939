"""Cut a streamed LLM reply into speakable pieces as the tokens arrive."""

from __future__ import annotations

import re

# Words that end with a period without ending the sentence.
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs e.g i.e cf approx dept est fig no nos vol inc ltd co corp gen gov sen rep "
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k a.k.a ph.d".split()
)
# Abbreviations that often end a sentence: they end one when a capital letter follows.
SENTENCE_FINAL_ABBREVIATIONS = frozenset({"etc", "a.m", "p.m"})
CLOSERS = "\"'”’)]»"
TERMINATORS = ".!?"
CLAUSE_MARKS = ",;:—"


class SentenceSplitter:
    """Feed text deltas, get finished pieces back.

    A piece ends at a sentence boundary. The first piece of a reply may end earlier, at a clause
    mark, once it is long enough: first audio should not wait for a long first sentence.
    Concatenating every piece (and flush()) gives back the input, whitespace between pieces aside.
    """

    def __init__(self, first_clause_chars: int = 40, max_chars: int = 320) -> None:
        self.first_clause_chars = first_clause_chars
        self.max_chars = max_chars
        self._buf = ""
        self._emitted = 0

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        pieces: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            piece, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            if piece:
                pieces.append(piece)
                self._emitted += 1
        return pieces

    def flush(self) -> list[str]:
        piece, self._buf = self._buf.strip(), ""
        if piece:
            self._emitted += 1
            return [piece]
        return []

    def _find_cut(self) -> int | None:
        buf = self._buf
        for i, ch in enumerate(buf):
            if ch == "\n" and buf[:i].strip():
                return i + 1
            if ch in TERMINATORS or ch == "…":
                end = _boundary_end(buf, i)
                if end is not None:
                    return end
        if self._emitted == 0 and len(buf) >= self.first_clause_chars:
            clause = _first_clause_end(buf, self.first_clause_chars)
            if clause is not None:
                return clause
        if len(buf) > self.max_chars:
            # A run-on without punctuation: cut at the last space so synthesis can start.
            space = buf.rfind(" ", 0, self.max_chars)
            return space + 1 if space > 0 else self.max_chars
        return None


def _boundary_end(buf: str, i: int) -> int | None:
    """If the terminator at i ends a sentence, the index just past it (and any closers)."""
    if buf[i] == "…" or (buf[i] == "." and _in_ellipsis(buf, i)):
        return None  # an ellipsis trails off mid-thought more often than it ends one
    j = i + 1
    while j < len(buf) and (buf[j] in TERMINATORS or buf[j] in CLOSERS):
        if buf[j] == "." and buf[i] == ".":
            return None
        j += 1
    if j >= len(buf):
        return None  # cannot tell yet: wait for the next delta
    if not buf[j].isspace():
        return None  # 3.14, e.g.x, a.m., file.txt
    if buf[i] == ".":
        word = _word_before(buf, i)
        if word in ABBREVIATIONS or _is_initial(word):
            return None
        if word.isdigit() and _starts_line(buf, i - len(word)):
            return None  # "2. Preheat the oven": a list number, not a sentence
        if word in SENTENCE_FINAL_ABBREVIATIONS:
            nxt = buf[j:].lstrip()
            if not nxt:
                return None
            if not nxt[0].isupper():
                return None
    return j


def _in_ellipsis(buf: str, i: int) -> bool:
    return (i > 0 and buf[i - 1] == ".") or (i + 1 < len(buf) and buf[i + 1] == ".")


def _word_before(buf: str, i: int) -> str:
    start = i
    while start > 0 and not buf[start - 1].isspace() and buf[start - 1] not in "(\"'“‘[":
        start -= 1
    return buf[start:i].lower()


def _starts_line(buf: str, start: int) -> bool:
    before = buf[:start].rstrip(" \t")
    return not before or before.endswith("\n")


def _is_initial(word: str) -> bool:
    return len(word) == 1 and word.isalpha()


_CLAUSE = re.compile(rf"[{CLAUSE_MARKS}](?=\s)")


def _first_clause_end(buf: str, min_chars: int) -> int | None:
    for match in _CLAUSE.finditer(buf):
        if match.end() >= min_chars:
            before = buf[: match.start()]
            if before.count('"') % 2 == 0 and not re.search(r"\d$", before):
                return match.end()
    return None


_MARKDOWN = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+(?=\S))", re.MULTILINE)


def speakable(text: str) -> str:
    """Drop markdown a small LLM likes to write, which a TTS would read aloud or stumble on."""
    return _MARKDOWN.sub("", text).replace("*", "").strip()


# A clause of fewer words than this may come back honestly ("No, no." "Yes. Yes, it is.").
REPEAT_MIN_WORDS = 3


class RepeatGuard:
    """Stops a reply at its first repeated clause or sentence.

    A small model that loops ("too difficult to live on, too difficult to live on, …") would otherwise
    talk until max_tokens. The engine's repeat penalty makes loops rarer; this catches the rest, in the
    sentence stream, so it works for every engine.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def keep(self, piece: str) -> tuple[str, bool]:
        """The part of `piece` before its first repeat, and whether a repeat was found (the reply ends)."""
        kept: list[str] = []
        for clause in re.split(r"(?<=[,;:—.!?…])\s+", piece):
            words = re.findall(r"\w+", clause.lower())
            key = " ".join(words)
            if len(words) >= REPEAT_MIN_WORDS and key in self._seen:
                text = " ".join(kept).rstrip(CLAUSE_MARKS + " ")
                if text and text[-1] not in TERMINATORS + CLOSERS + "…":
                    text += "."
                return text, True
            if len(words) >= REPEAT_MIN_WORDS:
                self._seen.add(key)
            kept.append(clause)
        return piece, False
