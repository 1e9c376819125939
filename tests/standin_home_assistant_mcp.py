"""A stand-in for a Home Assistant instance's MCP server (stdio), written with the SDK's MCPServer.

Home Assistant itself cannot run here. This serves the tools its MCP server exposes for the intents
(lights, covers, climate, media), under the same names and argument names (`name`, `area`, `floor`,
`domain`, `device_class`, `brightness`, `temperature`), lists as arrays as HA's schemas declare them;
GetLiveContext answers with HA's shape (JSON around a YAML list of entities); each intent answers as HA's
IntentTool does: the intent response as JSON, `data.success` naming what was acted on, and an error
for a name or area the home does not have. Each call is recorded as a JSON line in MARKER_DIR/calls.jsonl.

Run as `python tests/standin_home_assistant_mcp.py MARKER_DIR [de]`: with "de", the home's names are German,
as a German user's Home Assistant has them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

MARKERS = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
server = MCPServer("standin-home-assistant")

# The home: (entity id, name, area)
ENTITIES = [
    ("light.kitchen", "Kitchen Light", "Kitchen"),
    ("light.living_room", "Living Room Lamp", "Living Room"),
    ("light.desk", "Desk Lamp", "Office"),
    ("cover.garage_door", "Garage Door", "Garage"),
    ("climate.hall", "Hall Thermostat", "Hall"),
    ("media_player.living_room", "Living Room Speaker", "Living Room"),
]
if sys.argv[2:3] == ["de"]:
    ENTITIES = [
        ("light.kitchen", "Küchenlicht", "Küche"),
        ("light.living_room", "Stehlampe", "Wohnzimmer"),
        ("cover.garage_door", "Garagentor", "Garage"),
    ]
AREAS = {area.lower(): area for _, _, area in ENTITIES}


def _record(tool: str, arguments: dict[str, Any]) -> None:
    MARKERS.mkdir(parents=True, exist_ok=True)
    with (MARKERS / "calls.jsonl").open("a") as out:
        out.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


def _targets(name: str, area: str, domain: list[str], device_class: list[str]) -> list[tuple[str, str, str]]:
    """The entities a request names, as HA's intent matching finds them; an error says what is unknown.

    HA's MCP server answers a failed match with an error result "Error calling tool: ..." (ToolError here:
    the SDK passes its message on, as HA's server does with a HomeAssistantError).
    """
    found = list(ENTITIES)
    if name:
        found = [e for e in found if e[1].lower() == name.lower()]
        if not found:
            raise ToolError(f"Error calling tool: MatchFailedError: no entity named {name}")
    if area:
        if area.lower() not in AREAS:
            raise ToolError(f"Error calling tool: MatchFailedError: no area named {area}")
        found = [e for e in found if e[2] == AREAS[area.lower()]]
    if domain:
        found = [e for e in found if e[0].split(".")[0] in domain]
    if device_class and "garage" not in device_class and "door" not in device_class:
        found = []
    if not found:
        raise ToolError("Error calling tool: MatchFailedError: no entities matched")
    return found


def _done(found: list[tuple[str, str, str]]) -> str:
    success = [{"name": name, "type": "entity", "id": entity} for entity, name, _ in found]
    return json.dumps({"speech": {}, "response_type": "action_done",
                       "data": {"targets": [], "success": success, "failed": []}})


@server.tool(name="HassTurnOn", description="Turns on/opens/presses a device or entity.")
def turn_on(name: str = "", area: str = "", floor: str = "", domain: list[str] = [],  # noqa: B006
            device_class: list[str] = []) -> str:  # noqa: B006
    _record("HassTurnOn", {k: v for k, v in locals().items() if v})
    return _done(_targets(name, area, domain, device_class))


@server.tool(name="HassTurnOff", description="Turns off/closes a device or entity.")
def turn_off(name: str = "", area: str = "", floor: str = "", domain: list[str] = [],  # noqa: B006
             device_class: list[str] = []) -> str:  # noqa: B006
    _record("HassTurnOff", {k: v for k, v in locals().items() if v})
    return _done(_targets(name, area, domain, device_class))


@server.tool(name="HassLightSet", description="Sets the brightness percentage or color of a light.")
def light_set(name: str = "", area: str = "", floor: str = "", domain: list[str] = [],  # noqa: B006
              brightness: int | None = None) -> str:
    _record("HassLightSet", {k: v for k, v in locals().items() if v not in ("", [], None)})
    return _done(_targets(name, area, ["light"], []))


@server.tool(name="HassClimateSetTemperature", description="Sets the target temperature of a climate device.")
def climate_set(temperature: float, name: str = "", area: str = "", floor: str = "") -> str:
    _record("HassClimateSetTemperature", {k: v for k, v in locals().items() if v not in ("", None)})
    return _done(_targets(name, area, ["climate"], []))


@server.tool(name="HassMediaPause", description="Pauses a media player.")
def media_pause(name: str = "", area: str = "", floor: str = "", domain: list[str] = [],  # noqa: B006
                device_class: list[str] = []) -> str:  # noqa: B006
    _record("HassMediaPause", {k: v for k, v in locals().items() if v})
    return _done(_targets(name, area, ["media_player"], []))


@server.tool(name="GetLiveContext", description="Provides real-time information about the devices in the home.")
def live_context() -> str:
    _record("GetLiveContext", {})
    listing = "".join(
        f"- names: {name}\n  domain: {entity.split('.')[0]}\n  state: 'off'\n  areas: {area}\n"
        for entity, name, area in ENTITIES
    )
    return json.dumps({"success": True,
                       "result": "Live Context: An overview of the areas and the devices in this smart home:\n" + listing})


if __name__ == "__main__":
    server.run("stdio")
