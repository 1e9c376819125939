"""What a request's body says, checked: its JSON, its chat messages and tools, a choice among named values.

Each wrong field is a 400 in OpenAI's shape that names the field and what it takes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from assistant.core.chat import Message, ToolCall, ToolSpec
from assistant.openai_api.errors import ApiError, bad_request
from assistant.turn.sentences import SentenceSplitter, speakable

MAX_BODY = 4 * 1024 * 1024  # a JSON request (chat messages and tools)


def choice(value: object, kind: type[Any], name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise bad_request(f"{name} {value!r} is not one of {allowed}") from None


async def json_body(request: Request) -> dict[str, Any]:
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise ApiError(413, f"the request body is over {MAX_BODY // (1024 * 1024)} MB", code="request_too_large")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise bad_request("the body is not JSON; send a JSON object", "invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", "invalid_json")
    return body


def pieces(text: str) -> list[str]:
    """The text to speak, sentence by sentence, without what a voice cannot say (markup, symbols)."""
    splitter = SentenceSplitter()
    return [p for p in (speakable(piece) for piece in [*splitter.feed(text), *splitter.flush()]) if p]


def messages(value: object) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of {role, content}", "invalid_messages")
    out: list[Message] = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool", "developer"):
            raise bad_request(f"messages[{i}] needs a role: system, user, assistant or tool", "invalid_messages")
        content = message.get("content") or ""
        if isinstance(content, list):  # content parts: the text ones are kept
            content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        if not isinstance(content, str):
            raise bad_request(f"messages[{i}].content must be text", "invalid_messages")
        role = "system" if message["role"] == "developer" else message["role"]
        entry: dict[str, Any] = {"role": role, "content": content}
        for key in ("tool_calls", "tool_call_id", "name"):
            if key in message:
                entry[key] = message[key]
        out.append(entry)  # type: ignore[arg-type]
    return out


def tools(value: object) -> list[ToolSpec]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("'tools' must be a list of functions", "invalid_tools")
    specs = []
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"tools[{i}] must be {{type: function, function: {{name, parameters}}}}", "invalid_tools")
        specs.append(ToolSpec(function["name"], str(function.get("description", "")),
                              dict(function.get("parameters") or {"type": "object", "properties": {}})))
    return specs


def tool_call(call: ToolCall, index: int) -> dict[str, Any]:
    return {"index": index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
