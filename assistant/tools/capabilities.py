"""The honesty guard: a request no tool can serve gets "I can't … yet" and what would help.

A small LLM handed "turn off the kitchen lights" with no smart-home tool happily answers "Done!", and
asked for the weather it invents a sunny day. This deterministic check runs before the LLM route: when
the request is about a device or service family, or about live information (weather, news, prices,
scores, traffic, what is happening now) and no connected tool serves it, the reply says so and names
what to connect. Once an MCP server with tools is connected, such requests go to the LLM with those
tools, if the LLM can call tools; one that cannot (`tool_format = "none"`, as the embedded SmolLM2)
would only pretend, so the reply says so, gives a phrasing the local intents carry out where there is
one, and names a model that can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.tools.home import SERVED
from assistant.tools.registry import Registry


@dataclass(frozen=True)
class Domain:
    action: str  # what cannot be done, as the reply says it: "control your smart-home devices"
    pattern: re.Pattern[str]
    remedy: str  # what would make it possible
    unless: re.Pattern[str] | None = None  # the same words about something no live tool is needed for
    local: str = ""  # a phrasing the local intents carry out without any LLM, where there is one


_ACT = r"(turn|switch|shut|power|put)\s+(on|off|up|down)|dim|brighten|lock|unlock|open|close|start|stop|set|raise|lower|arm|disarm"
_HOME_THINGS = (
    r"lights?|lamps?|bulbs?|thermostat|heating|heater|air ?con(ditioning)?|a/?c|fans?|blinds|shades|curtains|"
    r"garage( door)?|front door|back door|door lock|locks?|alarm system|sockets?|plugs?|switch(es)?|oven|"
    r"kettle|vacuum|robot vacuum|sprinklers?|tv|television"
)
_HOME_REMEDY = (
    "connect a smart-home tool server, for example Home Assistant's MCP server, "
    "as an [[mcp]] entry in config.toml"
)

# A gap of a few words at most between the action and the thing: "turn off the kitchen lights".
_GAP = r"(\s+\S+){0,4}?\s+"

# No model knows live facts by itself: a tool must fetch them, and the model must be one that calls tools.
_LIVE_REMEDY = (
    "connect an MCP server for {what} as an [[mcp]] entry in config.toml, "
    "and use an LLM that can call tools, such as qwen3-4b (assistant llm use qwen3-4b)"
)


def _live(action: str, what: str, pattern: str, unless: str | None = None) -> Domain:
    return Domain(
        action,
        re.compile(pattern, re.IGNORECASE),
        _LIVE_REMEDY.format(what=what),
        re.compile(unless, re.IGNORECASE) if unless else None,
    )


# Other worlds have climates, not forecasts: "what's the weather like on Mars?" is general knowledge.
_ELSEWHERE = r"\b(on|of|in)\s+(the\s+)?(mars|venus|mercury|jupiter|saturn|uranus|neptune|pluto|moon|sun|titan|europa)\b"

DOMAINS = (
    Domain(
        "control your smart-home devices",
        re.compile(
            rf"\b({_ACT}){_GAP}({_HOME_THINGS})\b"  # "turn off the kitchen lights"
            rf"|\b(the|my)\s+(\w+\s+)?({_HOME_THINGS})\s+(on|off)\b",  # "turn the lights off"
            re.IGNORECASE,
        ),
        _HOME_REMEDY,
        local="turn off the lights in the kitchen",
    ),
    Domain(
        "control email or messages",
        re.compile(r"\bsend\b(\s+\S+){0,4}?\s+(an? )?(email|e-mail|message|text|sms)\b", re.IGNORECASE),
        "connect an email or messaging tool server as an [[mcp]] entry in config.toml",
    ),
    Domain(
        "control your calendar",
        re.compile(
            r"\b(add|put|schedule|book|create|move)\b(\s+\S+){0,4}?\s+(to|in|on)\s+my\s+calendar\b"
            r"|\bschedule\s+(a|an)\s+(meeting|appointment)\b",
            re.IGNORECASE,
        ),
        "connect a calendar tool server as an [[mcp]] entry in config.toml",
    ),
    _live(
        "check the weather",
        "weather",
        r"\b(weather|forecast|temperature\s+(outside|today|tonight|tomorrow)|humidity|umbrella)\b"
        r"|\b(is|will)\s+it\s+(rain|snow|be\s+(sunny|cold|hot|windy))|\bgoing\s+to\s+(rain|snow)\b"
        r"|\bhow\s+(hot|cold|warm)\s+is\s+it\b",
        unless=_ELSEWHERE,
    ),
    _live("read the news", "news", r"\b(news|headlines?)\b"),
    _live(
        "look up live prices",
        "prices",
        r"\b(stock|share)\s+prices?\b|\bprice\s+of\s+(bitcoin|ethereum|gold|silver|oil|gas|petrol|\w+\s+(stock|shares))\b"
        r"|\b(bitcoin|ethereum|btc|eth)\s+(price|worth|trading)\b|\bhow\s+much\s+is\s+(a\s+|one\s+)?(bitcoin|ethereum)\b"
        r"|\bhow('?s|\s+is)\s+the\s+(stock\s+)?market\b|\b(dow\s+jones|nasdaq|s&p\s*500|ftse|dax)\s+(today|now)\b"
        r"|\bexchange\s+rate\b",
    ),
    _live(
        "look up scores",
        "sports scores",
        r"\bwho('?s|\s+is)\s+winning\b|\bwhat'?s\s+the\s+score\b|\bscore\s+(of|in)\s+the\s+(game|match)\b"
        r"|\bwho\s+won\b(\s+\S+){0,4}?\s+(last\s+night|yesterday|today|tonight|this\s+(week|weekend))\b"
        r"|\bwho\s+won\s+the\s+(game|match|race)\b"
        r"|\b(game|match|football|soccer|basketball|baseball|hockey|cricket|tennis|nba|nfl)\s+(scores?|results?)\b",
    ),
    _live("check the traffic", "traffic", r"\b(traffic|road\s+conditions|commute)\b"),
    _live(
        "look up current events",
        "live information",
        r"\bwhat('?s|\s+is)\s+(happening|going\s+on|trending)\b|\bis\s+\w+(\s+\w+)?\s+open\s+(right\s+)?now\b",
    ),
)


TOOL_MODEL = "qwen3-4b"  # the catalog's smallest model that calls tools


def refusal(request: str, registry: Registry, model: str = "", calls_tools: bool = True) -> str | None:
    """The honest reply when `request` needs a tool nothing can use; None lets it through to the LLM.

    `model` is the current LLM and `calls_tools` whether it can call tools at all.
    """
    domain = next((d for d in DOMAINS if d.pattern.search(request) and not (d.unless and d.unless.search(request))),
                  None)
    connected = any(tool.source.startswith("mcp:") for tool in registry)
    if domain is None or (connected and calls_tools):
        return None  # nothing needed, or a tool server may serve it: the LLM sees its tools and decides
    if not connected:
        return f"I can't {domain.action} yet: no tool for that is connected. To make it possible, {domain.remedy}."
    # The phrasing works only where a server carries out Home Assistant's intents (home.py).
    home = domain.local and any(tool.remote in SERVED for tool in registry)
    phrasing = f'say it the way the local intents know, like "{domain.local}", or ' if home else ""
    return (f"I can't {domain.action} with {model or 'this model'}, which cannot call tools: {phrasing}"
            f"switch to a model that can (assistant llm use {TOOL_MODEL}).")
