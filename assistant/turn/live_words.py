"""The words of an utterance sent while it is still spoken, for clients that show text as the user talks
(the Realtime API's transcription deltas, Wyoming's transcript chunks).

An utterance is transcribed again as it grows, and a pass over a few seconds of speech may end on a cut
word ("jump" for "jumps") or change a word once more context arrives. So only the words that two passes
in a row agree on are sent, after those already sent; the final pass over the whole utterance sends
the rest. If the final pass disagrees with what was sent, nothing more is sent as a delta: the final
transcript, which every protocol also carries whole, is the truth.
"""

from __future__ import annotations


def _plain(word: str) -> str:
    """A word as passes are compared: "fox," in one pass is "Fox" in the next."""
    return "".join(c for c in word.lower() if c.isalnum())


def _agree(a: list[str], b: list[str]) -> int:
    count = 0
    while count < min(len(a), len(b)) and _plain(a[count]) == _plain(b[count]):
        count += 1
    return count


class LiveWords:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self._last: list[str] = []  # the latest pass's words while the utterance is spoken

    def partial(self, text: str) -> str | None:
        """A pass over the utterance so far: the newly agreed words as a delta, or None."""
        words = text.split()
        agreed = words[: _agree(words, self._last)]
        self._last = words
        return self._extend(agreed)

    def final(self, text: str) -> str | None:
        """The whole utterance's words: the rest after what was sent, or None (nothing new, or a disagreement)."""
        return self._extend(text.split())

    def _extend(self, words: list[str]) -> str | None:
        sent = self.sent
        if len(words) <= len(sent) or _agree(words, sent) < len(sent):
            return None
        new = words[len(sent) :]
        self.sent = [*sent, *new]
        return (" " if sent else "") + " ".join(new)
