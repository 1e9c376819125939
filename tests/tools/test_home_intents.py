"""Home Assistant's intents matched locally (hassil on home-assistant-intents) and carried out through MCP, no LLM.

The MCP server is a stand-in for a Home Assistant instance (tests/standin_home_assistant_mcp.py, real
stdio MCP with the SDK); the matching, the lists from its live context, the calls and the replies are
the daemon's own code. The end-to-end tests ask the real daemon.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config.settings import Config, McpServerSettings
from assistant.core.paths import Paths
from assistant.tools.home import HomeIntents, HomeMatch, live_entities, refresh_entities
from assistant.tools.mcp import McpServers
from assistant.tools.registry import Registry, ToolResult
from assistant.turn.assistant import Assistant
from assistant.turn.pipeline import TurnResult
from assistant.turn.utterance import Utterance
from assistant.vram.meter import SimulatedMeter

from ..daemon_process import DaemonProcess
from ..waiting import until, wait_for

pytestmark = pytest.mark.tools
STANDIN = Path(__file__).parents[1] / "standin_home_assistant_mcp.py"
# The second stand-in: its tools typed with pydantic, so its schemas use anyOf with null, $ref and integer.
TYPED = Path(__file__).parents[1] / "standin_home_assistant_typed_mcp.py"


def _calls(markers: Path) -> list[dict[str, Any]]:
    path = markers / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _connected(markers: Path, language: str = "en") -> AsyncIterator[tuple[Registry, McpServers]]:
    registry = Registry()
    server = McpServerSettings("home", sys.executable, (str(STANDIN), str(markers), language))
    servers = McpServers([server], registry)
    servers.start()
    await until(lambda: registry.get("home__HassTurnOff") is not None, 30, what=lambda: f"the home tools ({servers.status()})")
    yield registry, servers
    await servers.stop()


async def _say(home: HomeIntents, registry: Registry, sentence: str) -> tuple[HomeMatch | None, ToolResult | None]:
    match = home.match(sentence, registry)
    if match is None:
        return None, None
    return match, home.reply(match, await registry.call(match.tool, match.arguments, "intent", []))


def test_lights_by_area_and_name_brightness_temperature_and_covers_reach_the_server(tmp_path: Path) -> None:
    async def run() -> None:
        home = HomeIntents("en")
        async for registry, _ in _connected(tmp_path):
            assert await refresh_entities(home, registry) == 6  # the names and areas of the live context
            started = time.perf_counter()
            cases = [
                ("turn off the lights in the kitchen", "HassTurnOff", {"area": "Kitchen", "domain": ["light"]}),
                ("turn on the desk lamp", "HassTurnOn", {"name": "Desk Lamp"}),
                ("set the living room lamp to 40%", "HassLightSet", {"name": "Living Room Lamp", "brightness": 40}),
                ("close the garage door", "HassTurnOff", {"name": "Garage Door"}),
                ("set the temperature in the hall to 21 degrees", "HassClimateSetTemperature", {"temperature": 21, "area": "Hall"}),
                ("pause the living room speaker", "HassMediaPause", {"name": "Living Room Speaker"}),
            ]
            for sentence, tool, wanted in cases:
                match, reply = await _say(home, registry, sentence)
                assert match is not None and match.intent == tool, (sentence, match)
                sent = _calls(tmp_path)[-1]
                assert sent["tool"] == tool and {k: sent["arguments"].get(k) for k in wanted} == wanted, (sentence, sent)
                assert reply is not None and reply.ok, (sentence, reply)
                print(f"{sentence!r} -> {sent['arguments']} -> {reply.text!r}")
            print(f"{len(cases)} requests matched, called and answered in {(time.perf_counter() - started) * 1000:.0f} ms")
            _, reply = await _say(home, registry, "turn off the lights in the kitchen")
            assert reply is not None and "light" in reply.text.lower()  # HA's own response template
            _, reply = await _say(home, registry, "pause the living room speaker")
            assert reply is not None and reply.text == "Paused"
            _, reply = await _say(home, registry, "set the temperature in the hall to 21 degrees")
            assert reply is not None and reply.text == "Temperature set to 21 degrees"

    asyncio.run(run())


def test_a_name_the_home_lacks_is_not_matched_and_a_server_error_is_said_as_a_failure(tmp_path: Path) -> None:
    async def run() -> None:
        home = HomeIntents("en")
        async for registry, _ in _connected(tmp_path):
            await refresh_entities(home, registry)
            match, _ = await _say(home, registry, "turn on the jacuzzi")
            assert match is None  # not a device of this home: the sentence goes on to the LLM
            home.set_entities([])  # no live context: wildcards, and the server resolves the name
            match, reply = await _say(home, registry, "turn on the jacuzzi")
            assert match is not None and match.arguments.get("name") == "jacuzzi"
            assert reply is not None and not reply.ok and "no entity named jacuzzi" in reply.text
            assert "done" not in reply.text.lower()

    asyncio.run(run())


def test_timer_time_and_date_intents_go_to_our_tools_never_to_the_server(tmp_path: Path) -> None:
    home = HomeIntents("en")
    registry = Registry()
    assert home.match("set a timer for 5 minutes", registry) == HomeMatch(
        "HassStartTimer", "start_timer", {"duration_s": 300.0}, {"minutes": "5"}, "default")
    match = home.match("what time is it", registry)
    assert match is not None and match.tool == "get_time"
    assert home.match("turn off the lights in the kitchen", registry) is None  # no server offers HassTurnOff


def test_german_sentences_match_and_replies_are_german(tmp_path: Path) -> None:
    async def run() -> None:
        home = HomeIntents("de")
        async for registry, _ in _connected(tmp_path, "de"):
            await refresh_entities(home, registry)
            match, reply = await _say(home, registry, "Schalte das Licht in der Küche aus")
            assert match is not None and match.intent == "HassTurnOff", match
            assert _calls(tmp_path)[-1]["arguments"] == {"area": "Küche", "domain": ["light"]}
            assert reply is not None and reply.ok and "ausgeschaltet" in reply.text, reply
        timer = home.match("Stelle einen Timer auf 5 Minuten", Registry())
        assert timer is not None and timer.tool == "start_timer" and timer.arguments == {"duration_s": 300.0}
        now = home.match("Wie spät ist es", Registry())
        assert now is not None and now.tool == "get_time"
        said = home.reply(now, ToolResult("It is 10:06 PM."))
        assert said.text.startswith("Es ist ")

    asyncio.run(run())


def test_a_template_whose_value_the_answer_lacks_says_the_name_said_never_none() -> None:
    """HA's "Turned off {{ translations.get(state.domain) }}" printed "None" for a target the answer gave no
    domain for: the live context's domain fills it, and where nothing is known, the words the user said."""
    home = HomeIntents("en")
    bare = json.dumps({"response_type": "action_done", "speech": {}, "data": {"success": [{"name": None}], "failed": []}})
    known = HomeMatch("HassTurnOff", "ha__HassTurnOff", {"name": "Porch"}, {"name": "porch"}, "default",
                      "turn off the porch", {"domain": "light"})
    assert home.reply(known, ToolResult(bare)).text == "Turned off the light"
    unknown = HomeMatch("HassTurnOff", "ha__HassTurnOff", {"name": "Porch"}, {"name": "porch"}, "default", "turn off the porch")
    assert home.reply(unknown, ToolResult(bare)).text == "Turned off porch"
    nothing = json.dumps({"response_type": "action_done", "data": {"success": [], "failed": [{"name": None}]}})
    assert home.reply(unknown, ToolResult(nothing)).text == "Home Assistant could not do that."


def test_live_context_is_read_from_home_assistants_shape() -> None:
    text = json.dumps({"success": True, "result": "Live Context: overview\n- names: Kitchen Light, Counter\n"
                       "  domain: light\n  state: 'on'\n  areas: Kitchen\n- names: Fan\n  domain: fan\n"})
    assert [(e.name, e.domain, e.areas) for e in live_entities(text)] == [
        ("Kitchen Light", "light", ("Kitchen",)), ("Counter", "light", ("Kitchen",)), ("Fan", "fan", ())]
    assert live_entities("not json: [") == []


@pytest.mark.audio
def test_the_daemon_turns_off_the_kitchen_lights_with_the_embedded_model_in_english_and_german_and_stays_honest(
    tmp_path: Path, xdg: Paths  # noqa: F811
) -> None:
    markers = tmp_path / "markers"
    for language, sentence, said in (("en", "turn off the lights in the kitchen", "light"),
                                     ("de", "Schalte das Licht in der Küche aus", "ausgeschaltet")):
        server = f'[[mcp]]\nname = "home"\ncommand = "{sys.executable}"\nargs = ["{STANDIN}", "{markers}", "{language}"]\n'
        xdg.config_file.write_text(f'language = "{language}"\n' + server)
        with DaemonProcess(xdg) as daemon:
            wait_for(lambda: any(s["connected"] for s in daemon.call("mcp.status")), 30, what="the MCP server to connect")
            before = len(_calls(markers))
            reply = daemon.json("ask", "--no-speak", sentence)
            # The live context is read after each connect, maybe during the turn: a read, not an action.
            sent = [c for c in _calls(markers)[before:] if c["tool"] != "GetLiveContext"]
            assert [c["tool"] for c in sent] == ["HassTurnOff"], sent
            assert said in reply["reply"].lower(), reply
            assert [(t["name"], t["route"]) for t in reply["tools"]] == [("home__HassTurnOff", "intent")], reply
            if language == "en":
                # No intent for "dim", and SmolLM2 cannot call tools: it is not asked to pretend.
                before = len(_calls(markers))
                honest = daemon.json("ask", "--no-speak", "dim the lights in the living room")
                assert honest["reply"].startswith("I can't control your smart-home devices with smollm2-135m")
                acted = [c for c in _calls(markers)[before:] if c["tool"] != "GetLiveContext"]
                assert honest["tools"] == [] and acted == [], acted


# (sentence, the tool, the arguments the server must receive, what is said); the home is the typed stand-in's.
TYPED_CASES = [
    ("turn off the bedroom lights", "HassTurnOff", {"area": "Bedroom", "domain": ["light"]}, "Turned off the lights"),
    ("turn off the kitchen light", "HassTurnOff", {"name": "Kitchen Light"}, "Turned off the light"),
    ("set the bedroom lights to 40 percent", "HassLightSet", {"area": "Bedroom", "domain": ["light"], "brightness": 40},
     "Brightness set"),
    ("dim the reading light to 25%", "HassLightSet", {"name": "Reading Light", "brightness": 25}, "Brightness set"),
    ("set the patio blinds to 30 percent", "HassSetPosition", {"name": "Patio Blinds", "position": 30}, "Position set"),
    ("close the blinds in the living room", "HassTurnOff",
     {"area": "Living Room", "device_class": ["blind"], "domain": ["cover"]}, "Closing the blinds"),
    ("set the hallway thermostat to 21.5 degrees", "HassClimateSetTemperature",
     {"name": "Hallway Thermostat", "temperature": 21.5}, "Temperature set to 21.5 degrees"),
    ("set the temperature in the hallway to 20 degrees", "HassClimateSetTemperature",
     {"area": "Hallway", "temperature": 20}, "Temperature set to 20 degrees"),
    ("pause the kitchen radio", "HassMediaPause", {"name": "Kitchen Radio"}, "Paused"),
    ("pause the radio in the kitchen", "HassMediaPause", {"area": "Kitchen"}, "Paused"),
    ("next song in the kitchen", "HassMediaNext", {"area": "Kitchen"}, "Playing next"),
    ("set the volume of the kitchen radio to 30 percent", "HassSetVolume", {"name": "Kitchen Radio", "volume_level": 30},
     "Volume set"),
]


def test_a_pydantic_typed_server_is_sent_what_its_schema_asks_and_no_reply_says_none_or_a_validator_s_words(
    xdg: Paths, tmp_path: Path
) -> None:
    """The turn pipeline as the daemon runs it (local intents, then the honesty guard, then an LLM) against a
    server whose schemas are pydantic's: `domain` an optional list (anyOf with null), device classes an enum
    behind $ref, brightness an integer. Every request by area or by name in the live context is carried out
    by an intent, with a list for a list and a whole number for an integer, and said without "None"."""
    markers = tmp_path / "typed"

    async def main() -> list[tuple[str, TurnResult]]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        intents = assistant.pipeline.intents
        assert intents is not None
        servers = McpServers([McpServerSettings("ha", sys.executable, (str(TYPED), str(markers)))], assistant.tools)
        servers.start()
        turns = []
        try:
            await until(lambda: assistant.tools.get("ha__GetLiveContext") is not None, 30,
                        what=lambda: f"the typed home tools ({servers.status()})")
            await intents.refresh_home(assistant.tools)  # what the daemon does after a server's tools change
            sentences = [case[0] for case in TYPED_CASES] + ["set the hallway thermostat to 40 degrees"]
            started = time.perf_counter()
            for sentence in sentences:
                turns.append((sentence, await assistant.pipeline.turn(Utterance.typed(sentence), assistant.models, None)))
            print(f"\n{len(sentences)} turns through the pipeline in {(time.perf_counter() - started) * 1000:.0f} ms")
        finally:
            await servers.stop()
            await assistant.close()
        return turns

    turns = asyncio.run(main())
    sent = [c for c in _calls(markers) if c["tool"] != "GetLiveContext"]
    assert len(sent) == len(turns), sent  # one call a turn: none refused before the call, none left to an LLM
    for (sentence, result), call, (_, tool, wanted, said) in zip(turns, sent, TYPED_CASES):
        print(f"{sentence!r} -> {call['arguments']} -> {result.reply!r}")
        assert call["tool"] == tool and call["arguments"] == wanted, (sentence, call)
        assert [(t.name, t.route, t.ok) for t in result.tools] == [(f"ha__{tool}", "intent", True)], (sentence, result.tools)
        assert result.reply == said and result.llm == "", (sentence, result.reply)
    # A call the server refuses in several sentences with a link is said in one sentence of its own words.
    sentence, failed = turns[-1]
    print(f"{sentence!r} -> {failed.reply!r}")
    assert [(t.name, t.ok) for t in failed.tools] == [("ha__HassClimateSetTemperature", False)]
    assert "temperature 40.0 is not valid" in failed.reply and len(re.findall(r"[.!?](\s|$)", failed.reply)) == 1, failed.reply
    for _, result in turns:
        assert not any(word in result.reply.lower() for word in ("none", "pydantic", "http", "error executing")), result.reply
