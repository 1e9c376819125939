"""How a llama.cpp model is told about tools and how its calls are read back: its own template, or a grammar.

Two ways, chosen from the GGUF's chat template:
- "template": the template renders the tools itself and the model answers with Hermes-style
  `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Qwen2.5, Qwen3, Hermes and their kin).
- "grammar": for a model whose template knows no tools (SmolLM2), the tools are described in the system
  message and a GBNF grammar lets the model write only a JSON call to one of them,
  `{"tool": NAME, "arguments": {...}}` (the arguments following the tool's schema), or a plain answer
  whose first character is not "{". The first character decides, so a plain answer streams at once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolCall, ToolSpec

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"

# A plain answer starts with anything but "{" or blank; then anything at all.
_ANSWER_RULES = 'answer ::= [^{ \\t\\r\\n] answer-rest\nanswer-rest ::= [^\\x00]*'


def template_format(template: str) -> str:
    """'template' when the GGUF's chat template renders tools and Hermes-style calls, else 'grammar'."""
    return "template" if "tools" in template and CALL_OPEN in template else "grammar"


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def call_from_json(text: str, name_key: str, tools: Sequence[ToolSpec]) -> ToolCall | None:
    """A ToolCall from a JSON object naming a tool (under `name_key`) and its arguments; None if it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    name = data.get(name_key)
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(name, str) or not isinstance(arguments, dict) or name not in {t.name for t in tools}:
        return None
    return ToolCall(_call_id(), name, arguments)


# ---------------------------------------------------------------- the model's own template (Hermes calls)


def parse_hermes(pieces: Iterable[str], tools: Sequence[ToolSpec]) -> Iterator[ChatEvent]:
    """Stream text through, holding back only what may be the start of `<tool_call>`; yield each call."""
    pending = ""
    for piece in pieces:
        pending += piece
        while True:
            start = pending.find(CALL_OPEN)
            if start < 0:
                keep = _partial_suffix(pending, CALL_OPEN)
                if len(pending) > keep:
                    yield TextDelta(pending[: len(pending) - keep])
                    pending = pending[len(pending) - keep :]
                break
            end = pending.find(CALL_CLOSE, start)
            if end < 0:
                if start:
                    yield TextDelta(pending[:start])
                    pending = pending[start:]
                break  # the call is still being written
            if start:
                yield TextDelta(pending[:start])
            yield from _hermes_call(pending[start + len(CALL_OPEN) : end], tools)
            pending = pending[end + len(CALL_CLOSE) :]
    if pending.startswith(CALL_OPEN):  # cut off by max_tokens, or the model forgot to close it
        yield from _hermes_call(pending[len(CALL_OPEN) :], tools)
    elif pending:
        yield TextDelta(pending)


def _hermes_call(body: str, tools: Sequence[ToolSpec]) -> Iterator[ChatEvent]:
    call = call_from_json(body.strip(), "name", tools)
    if call is not None:
        yield call
    # A malformed call is dropped rather than read aloud: JSON is no answer to speak.


def _partial_suffix(text: str, marker: str) -> int:
    """The length of the longest end of `text` that is a beginning of `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


# ---------------------------------------------------------------- a grammar, for models without tool templates


def grammar_text(tools: Sequence[ToolSpec]) -> str:
    """GBNF: `root ::= call | answer`, where a call names one of the tools and follows its argument schema."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    alternatives = []
    for spec in tools:
        arguments = spec.parameters if _convertible(spec.parameters) else {"type": "object"}
        alternatives.append(
            {
                "type": "object",
                "properties": {"tool": {"const": spec.name}, "arguments": arguments},
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    calls = json_schema_to_gbnf(json.dumps({"oneOf": alternatives}), prop_order=["tool", "arguments"])
    calls = re.sub(r"^root ::=", "call ::=", calls, count=1, flags=re.MULTILINE)
    return f"root ::= call | answer\n{calls}\n{_ANSWER_RULES}\n"


def _convertible(schema: dict[str, Any]) -> bool:
    """Whether llama.cpp's schema converter takes this schema (MCP servers send all sorts)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        json_schema_to_gbnf(json.dumps(schema))
    except Exception:
        return False
    return True


def grammar_messages(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[Message]:
    """The conversation for a model without a tool template: tools in the system message, calls as JSON text."""
    listing = "\n".join(
        f"- {spec.name}: {spec.description} Arguments: {json.dumps(spec.parameters.get('properties', {}))}"
        for spec in tools
    )
    instructions = (
        "\n\nYou can use these tools:\n"
        f"{listing}\n"
        'To use one, reply with only a JSON object: {"tool": "NAME", "arguments": {...}}. '
        "Otherwise, answer in plain words."
    )
    out: list[Message] = []
    for message in messages:
        if message["role"] == "system":
            out.append({"role": "system", "content": message["content"] + instructions})
        elif message["role"] == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call["function"]
                # An API client's calls come through as it sent them: some write the arguments as an object.
                arguments: object = function["arguments"]
                written = {
                    "tool": function["name"],
                    "arguments": json.loads(arguments) if isinstance(arguments, str) else arguments,
                }
                out.append({"role": "assistant", "content": json.dumps(written)})
        elif message["role"] == "tool":
            out.append({"role": "user", "content": f"The {message.get('name', 'tool')} tool says: {message['content']}"})
        else:
            out.append({"role": message["role"], "content": message["content"]})
    if not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": instructions.strip()})
    return out


def parse_grammar_output(pieces: Iterable[str], tools: Sequence[ToolSpec]) -> Iterator[ChatEvent]:
    """The grammar's first character decides: "{" starts a call (collected whole), anything else streams."""
    pieces = iter(pieces)
    head = ""
    for piece in pieces:
        head += piece
        if head.strip():
            break
    if not head.lstrip().startswith("{"):
        if head:
            yield TextDelta(head)
        for piece in pieces:
            yield TextDelta(piece)
        return
    body = head + "".join(pieces)
    call = call_from_json(body.strip(), "tool", tools)
    if call is not None:
        yield call
    else:
        # The grammar makes this unreachable unless max_tokens cut the call short: say so, honestly.
        yield TextDelta("I tried to use a tool but could not finish the request.")
