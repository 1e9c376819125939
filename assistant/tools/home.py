"""Home Assistant's own intents, matched locally with hassil on its sentences (home-assistant-intents), in its languages.

A sentence such as "turn off the lights in the kitchen" or "Schalte das Licht in der Küche aus" is matched
here, without a model, to HA's intent (HassTurnOff, area "kitchen", domain "light"). When a connected MCP
server offers a tool of that very name (Home Assistant's MCP server does), the tool is called with the
slots as HA names them, shaped to the tool's own schema (arguments.py), and what is said comes from the
tool's answer: HA's own words where it gave some, else HA's response template for the matched sentence,
rendered sandboxed as HA renders it, never with a "None" in it. A failure is said as one, in one sentence
of the server's words. English gets a few phrasings HA's sentences lack (sentences/home_en.yaml). The
timer, time and date intents never go to HA, nor volume and media that name no device of the home: our
builtin tools run them (a timer, and the speakers, belong to this desktop; home_local.py).

The `{name}` and `{area}` lists come from the server's GetLiveContext, where offered, so a name must be
one the home has; without it they are wildcards and the server resolves the name, or says it cannot.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from assistant.core.errors import ConfigError
from assistant.tools.arguments import plain_error, shape
from assistant.tools.home_local import BUILTIN, HERE, builtin_arguments, here_arguments, is_here, mark_here
from assistant.tools.intents import SENTENCES, SlotValue
from assistant.tools.registry import Registry, Tool, ToolResult

if TYPE_CHECKING:
    from hassil.intents import SlotList

log = logging.getLogger(__name__)

# Intents a connected server carries out, under their own names (HA's MCP server exposes these).
SERVED = frozenset({
    "HassTurnOn", "HassTurnOff", "HassLightSet", "HassClimateSetTemperature", "HassSetPosition",
    "HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious", "HassSetVolume",
    "HassMediaPlayerMute", "HassMediaPlayerUnmute",
})
LIVE_CONTEXT = "GetLiveContext"
_SPACES = re.compile(r"\s+")
_GAP = "\x00"  # what a missing value renders as, before _render fills it
_NONE = re.compile(r"\bNone\b")


@dataclass(frozen=True)
class Entity:
    """One thing in the home, as the server's live context lists it."""

    name: str
    domain: str
    areas: tuple[str, ...] = ()


@dataclass(frozen=True)
class HomeMatch:
    intent: str
    tool: str  # the registry's name of the tool to call
    arguments: dict[str, Any]  # as the tool takes them: JSON, for an MCP tool as for a builtin one
    slots: dict[str, SlotValue]  # what the response template reads (each slot's text as said)
    response: str  # the key of HA's response template for the sentence matched
    sentence: str = field(default="", compare=False)
    # What the live context says of the target (its "domain", its "area"), for a reply the server's answer
    # does not name it in.
    known: dict[str, str] = field(default_factory=dict, compare=False)
    local: bool = field(default=False, compare=False)  # one of our builtin tools carries it out (home_local.py)


def languages() -> list[str]:
    from home_assistant_intents import get_languages

    return list(get_languages())


class HomeIntents:
    """HA's sentences for the intents we serve, in one language, loaded and indexed once."""

    def __init__(self, language: str) -> None:
        from hassil import Intents
        from home_assistant_intents import get_intents

        data = get_intents(language)
        if data is None:
            raise ConfigError(f"no Home Assistant sentences for language {language!r} (try one of: {', '.join(languages())})")
        self.language = language
        data["intents"] = {name: value for name, value in data["intents"].items()
                           if name in SERVED or name in BUILTIN or name in HERE}
        mark_here(data)
        _add_sentences(data, language)
        self._responses: dict[str, dict[str, str]] = data.get("responses", {}).get("intents", {})
        self._errors: dict[str, str] = data.get("responses", {}).get("errors", {})
        self._named = Intents.from_dict(data)
        # Without the live context a {name} is a wildcard, which carries no domain: HA's sentences that
        # require one ("turn on {name}" is for lights, switches, fans, ...) would never match it. These
        # copies drop that requirement, and the server finds the entity by its name, or says it cannot.
        # A deep copy: hassil keeps the very dicts it was given, and the named intents need their
        # requirements (without them "set the bedroom blinds to 50%" set a cover's brightness).
        data = copy.deepcopy(data)
        for intent in data["intents"].values():
            for block in intent.get("data", []):
                block.get("requires_context", {}).pop("domain", None)
        self._wild = Intents.from_dict(data)
        self._intents = self._wild
        self._lists: dict[str, SlotList] = _wildcards()
        from jinja2 import ChainableUndefined
        from jinja2.sandbox import SandboxedEnvironment

        # HA's templates print what its own context has (`translations.get(state.domain)`); where ours lacks
        # it they printed "None" ("Turned off None"): a gap instead, which _render fills.
        self._jinja = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, finalize=_no_none)
        self.match("turn on the light", ())  # hassil compiles its patterns at the first match: do it at start

    def intents(self) -> list[str]:
        return sorted(self._intents.intents)

    def set_entities(self, entities: Iterable[Entity]) -> None:
        """The home's names and areas, from the server's live context: a `{name}` must then be one of them."""
        from hassil.intents import TextSlotList

        entities = list(entities)
        if not entities:
            self._intents, self._lists = self._wild, _wildcards()
            return
        self._intents = self._named
        areas = sorted({area for entity in entities for area in entity.areas})
        names = [(e.name, e.name, {"domain": e.domain, **({"area": e.areas[0]} if e.areas else {})}) for e in entities]
        # The live context names no floors: an empty list, so no wildcard swallows an area's words.
        self._lists = {"name": TextSlotList.from_tuples(names, allow_template=False),
                       "area": TextSlotList.from_strings(areas, allow_template=False),
                       "floor": TextSlotList.from_strings([], allow_template=False)}

    def match(self, sentence: str, tools: Iterable[Tool]) -> HomeMatch | None:
        """HA's intent for the whole sentence, when a tool can carry it out; None sends it on to the LLM."""
        from hassil import recognize_best

        by_remote = {tool.remote: tool for tool in tools if tool.source.startswith("mcp:") and tool.remote}
        try:
            result = recognize_best(sentence, self._intents, slot_lists=self._lists, language=self.language,
                                    best_slot_name="name")
        except Exception as exc:  # hassil is a parser over user text: a bug there must not end the turn
            log.warning("hassil could not match %r: %s", sentence, exc)
            return None
        if result is None:
            return None
        intent = result.intent.name
        slots = {name: entity.text or entity.value for name, entity in result.entities.items()}
        values = {name: entity.value for name, entity in result.entities.items()}
        if intent in BUILTIN or is_here(intent, values):
            here = intent not in BUILTIN
            arguments = here_arguments(intent, values) if here else builtin_arguments(intent, values)
            if arguments is None:
                return None
            tool_name = HERE[intent][0] if here else BUILTIN[intent]
            return HomeMatch(intent, tool_name, arguments, slots, result.response or "default", sentence, local=True)
        tool = by_remote.get(intent)
        if tool is None:
            return None
        known = {k: v for k, v in {**result.context, **values}.items() if k in ("domain", "area") and isinstance(v, str)}
        return HomeMatch(intent, tool.name, shape(values, tool.parameters), slots, result.response or "default",
                         sentence, known)

    # ---- what is said ------------------------------------------------------------------------------

    def reply(self, match: HomeMatch, result: ToolResult, now: dt.datetime | None = None) -> ToolResult:
        """What to say for a tool's answer: HA's own speech, else its response template; a failure as one."""
        if match.local:
            return self._builtin_reply(match, result, now or dt.datetime.now().astimezone())
        if not result.ok:
            return result
        answer = _json(result.text)
        if answer is None:
            return result  # not Home Assistant's shape: the server's own words
        speech = _speech(answer)
        if answer.get("response_type") == "error" or answer.get("success") is False:
            code = answer["data"].get("code") if isinstance(answer.get("data"), dict) else None
            reason = speech or str(answer.get("error") or code or "")
            return ToolResult(f"Home Assistant could not do that: {plain_error(reason)}.", answer, ok=False)
        if speech:
            return ToolResult(speech, answer)
        data = answer.get("data", {}) if isinstance(answer.get("data"), dict) else {}
        done = [t for t in data.get("success", []) if isinstance(t, dict)]
        failed = [t for t in data.get("failed", []) if isinstance(t, dict)]
        if failed and not done:
            names = ", ".join(str(t.get("name") or t.get("id")) for t in failed if t.get("name") or t.get("id"))
            return ToolResult(f"Home Assistant could not do that{' for ' + names if names else ''}.", answer, ok=False)
        matched = [_target(match, t) for t in done]
        text = self._render(match, {"slots": match.slots, "state": matched[0] if matched else _target(match, {}),
                                    "query": {"matched": matched, "unmatched": []}})
        return ToolResult(text, answer) if text else result

    def _builtin_reply(self, match: HomeMatch, result: ToolResult, now: dt.datetime) -> ToolResult:
        """Our tool did it; English keeps its own sentence, another language gets HA's template."""
        if not result.ok or self.language.split("-")[0] == "en":
            return result
        slots = {**match.slots, "time": now.time(), "date": now.date()}
        text = self._render(match, {"slots": slots, "state": None, "query": {"matched": [], "unmatched": []}})
        return ToolResult(text, result.data) if text else result

    def _render(self, match: HomeMatch, context: Mapping[str, object]) -> str:
        responses = self._responses.get(match.intent, {})
        template = responses.get(match.response) or responses.get("default")
        if not template:
            return ""
        try:
            text = self._jinja.from_string(template).render(**context)
        except Exception as exc:  # a template HA wrote for its own context; ours may lack a field
            log.warning("HA's %s/%s template did not render: %s", match.intent, match.response, exc)
            return ""
        # A value the context lacks renders as a gap, filled with what the user called the target.
        said = str(match.slots.get("name") or match.slots.get("area") or "")
        text = text.replace(_GAP, said)
        if _NONE.search(text) and not re.search(r"\bnone\b", match.sentence, re.IGNORECASE):
            # "None" from a filter (`| string`) that the gap cannot catch: never say it.
            text = _NONE.sub(said, text)
        return _SPACES.sub(" ", text).strip()


def live_entities(text: str) -> list[Entity]:
    """The entities in GetLiveContext's answer (JSON around a YAML list, as Home Assistant writes it)."""
    import yaml

    answer = _json(text)
    body = str(answer.get("result", "")) if answer is not None else text
    listing = body.split("\n", 1)[1] if body.startswith("Live Context") and "\n" in body else body
    try:
        items = yaml.safe_load(listing)
    except yaml.YAMLError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("names") and item.get("domain"):
            areas = item.get("areas") or ()
            for name in str(item["names"]).split(","):
                out.append(Entity(name.strip(), str(item["domain"]),
                                  tuple(a.strip() for a in str(areas).split(",")) if areas else ()))
    return out


async def refresh_entities(home: HomeIntents, registry: Registry) -> int:
    """Fill the lists from a connected server's live context; how many entities it named (0: wildcards)."""
    tool = next((t for t in registry if t.source.startswith("mcp:") and t.remote == LIVE_CONTEXT), None)
    entities: list[Entity] = []
    if tool is not None:
        result = await registry.call(tool.name, {}, "intent", [])
        entities = live_entities(result.text) if result.ok else []
    home.set_entities(entities)
    return len(entities)


def _add_sentences(data: dict[str, Any], language: str) -> None:
    """Our phrasings for HA's intents (sentences/home_LANG.yaml), where HA's own sentences lack them."""
    import yaml

    for name in (language, language.split("-")[0]):
        path = SENTENCES / f"home_{name}.yaml"
        if path.exists():
            with path.open(encoding="utf-8") as text:
                extra = yaml.safe_load(text)
            for intent, body in extra.get("intents", {}).items():
                if intent in data["intents"]:
                    data["intents"][intent].setdefault("data", []).extend(body.get("data", []))
            return


def _wildcards() -> dict[str, SlotList]:
    from hassil.intents import WildcardSlotList

    return {name: WildcardSlotList(name) for name in ("name", "area", "floor")}


def _no_none(value: Any) -> Any:
    from jinja2 import Undefined

    return _GAP if value is None or isinstance(value, Undefined) else value


def _target(match: HomeMatch, answered: Mapping[str, Any]) -> SimpleNamespace:
    """A target as HA's templates read it (`state.name`, `state.domain`): from the server's answer where it
    says, else from the live context and the words said (an area's id "bedroom" has no domain in it)."""
    ident = str(answered.get("id") or "")
    domain = ident.split(".")[0] if "." in ident else match.known.get("domain", "")
    name = answered.get("name") or match.slots.get("name") or match.slots.get("area") or ""
    return SimpleNamespace(name=str(name), domain=domain)


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _speech(answer: Mapping[str, Any]) -> str:
    speech = answer.get("speech")
    plain = speech.get("plain", {}) if isinstance(speech, dict) else {}
    return str(plain.get("speech", "")).strip() if isinstance(plain, dict) else ""
