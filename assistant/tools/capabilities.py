"""The honesty guard: a request to control something no tool can reach gets "I can't … yet" and what would help.

A small LLM handed "turn off the kitchen lights" with no smart-home tool happily answers "Done!". This
deterministic check runs before the LLM route: when the request is about a device or service family
and no connected tool serves it, the reply says so and names what to connect. As soon as an MCP server
with tools is connected, such requests go to the LLM with those tools instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.tools.registry import Registry


@dataclass(frozen=True)
class Domain:
    name: str  # what the user asked to control, as the reply says it
    pattern: re.Pattern[str]
    remedy: str  # what would make it possible


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

DOMAINS = (
    Domain(
        "your smart-home devices",
        re.compile(
            rf"\b({_ACT}){_GAP}({_HOME_THINGS})\b"  # "turn off the kitchen lights"
            rf"|\b(the|my)\s+(\w+\s+)?({_HOME_THINGS})\s+(on|off)\b",  # "turn the lights off"
            re.IGNORECASE,
        ),
        _HOME_REMEDY,
    ),
    Domain(
        "email or messages",
        re.compile(r"\bsend\b(\s+\S+){0,4}?\s+(an? )?(email|e-mail|message|text|sms)\b", re.IGNORECASE),
        "connect an email or messaging tool server as an [[mcp]] entry in config.toml",
    ),
    Domain(
        "your calendar",
        re.compile(
            r"\b(add|put|schedule|book|create|move)\b(\s+\S+){0,4}?\s+(to|in|on)\s+my\s+calendar\b"
            r"|\bschedule\s+(a|an)\s+(meeting|appointment)\b",
            re.IGNORECASE,
        ),
        "connect a calendar tool server as an [[mcp]] entry in config.toml",
    ),
)


def refusal(request: str, registry: Registry) -> str | None:
    """The honest reply when `request` needs a tool family nothing connected provides; None lets it through."""
    if any(tool.source.startswith("mcp:") for tool in registry):
        return None  # an external tool server may serve it; the LLM sees its tools and decides
    for domain in DOMAINS:
        if domain.pattern.search(request):
            return f"I can't control {domain.name} yet: no tool for that is connected. To make it possible, {domain.remedy}."
    return None
