"""The local intents a turn tries before any LLM: ours first, then Home Assistant's, loaded once.

Loading the sentences takes a few tenths of a second, so it is not done at construction: the daemon
loads them in a thread once the ASR is in (`loaded` from any thread), anything else at its first turn.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from assistant.tools.arguments import load_checker
from assistant.tools.home import HomeIntents, refresh_entities
from assistant.tools.intents import Matcher
from assistant.tools.registry import Registry, ToolCallRecord, ToolResult

Load = Callable[[], tuple[Matcher | None, HomeIntents | None]]


class LocalIntents:
    def __init__(self, load: Load) -> None:
        self._load: Load | None = load
        self._lock = threading.Lock()
        self._matcher: Matcher | None = None
        self._home: HomeIntents | None = None

    @classmethod
    def of(cls, matcher: Matcher | None = None, home: HomeIntents | None = None) -> LocalIntents:
        """Already loaded ones (tests, benchmarks)."""
        return cls(lambda: (matcher, home))

    def loaded(self) -> tuple[Matcher | None, HomeIntents | None]:
        """Our matcher and Home Assistant's, loaded on the first call."""
        with self._lock:
            if self._load is not None:
                self._matcher, self._home = self._load()
                self._load = None
                load_checker()  # every builtin tool checks its arguments: in this thread, not in the first turn
        return self._matcher, self._home

    def english(self) -> bool:
        """Whether the replies are English (our numbers-to-words are; another language's voice reads digits)."""
        home = self.loaded()[1]
        return home is None or home.language.split("-")[0] == "en"

    async def answer(self, sentence: str, tools: Registry, records: list[ToolCallRecord]) -> ToolResult | None:
        """Run the tool the whole sentence asks for and return what to say; None when no intent takes it."""
        matcher, home = self.loaded()
        match = matcher.match(sentence, tools=[tool.name for tool in tools]) if matcher is not None else None
        if match is not None:
            return await tools.call(match.tool, match.arguments, "intent", records)
        found = home.match(sentence, tools) if home is not None else None
        if found is None or home is None:
            return None
        return home.reply(found, await tools.call(found.tool, found.arguments, "intent", records))

    async def refresh_home(self, tools: Registry) -> None:
        """Re-read the home's names and areas from a connected server (after its tools change)."""
        home = (await asyncio.to_thread(self.loaded))[1]
        if home is not None:
            await refresh_entities(home, tools)
