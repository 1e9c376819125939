"""A second stand-in for a Home Assistant instance's MCP server (stdio), its tools typed with pydantic.

Home Assistant itself cannot run here. The first stand-in (standin_home_assistant_mcp.py) takes plain
defaults (`domain: list[str] = []`). This one is written the way a server built on the official `mcp`
SDK types its tools, and so is HA's own MCP server seen through a pydantic client: every optional
argument is `X | None = None`, which the SDK's inputSchema declares as `anyOf: [X, {type: null}]`; the
device classes are an Enum, declared under `$defs` and reached by `$ref`; brightness, position and
volume are whole numbers from 0 to 100 and a temperature is any number. The SDK validates each call
with pydantic and refuses a bad one in pydantic's words (a URL among them), as the real server did.

Its answers are HA's intent response as JSON, but not shaped as the first stand-in's: a target acted
on by name is listed by its name alone, and one reached through an area is listed as the area (HA's
targets carry no entity id then). GetLiveContext lists an entity with the areas it is in. A climate
set outside its range fails as HA's service validation does, in several sentences with a link.

Run as `python tests/standin_home_assistant_typed_mcp.py MARKER_DIR`; each call is one JSON line in
MARKER_DIR/calls.jsonl ({"tool": ..., "arguments": ...}, the arguments as the tool received them).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

MARKERS = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
server = MCPServer("standin-home-assistant-typed")


class DeviceClass(str, Enum):
    awning = "awning"
    blind = "blind"
    curtain = "curtain"
    door = "door"
    garage = "garage"
    shade = "shade"
    shutter = "shutter"
    window = "window"


Percent = Annotated[int, Field(ge=0, le=100)]
Name = Annotated[str | None, Field(description="Name of a device or entity")]
Area = Annotated[str | None, Field(description="Name of an area")]
Domains = Annotated[list[str] | None, Field(description="Domains of the devices")]
Classes = Annotated[list[DeviceClass] | None, Field(description="Device classes")]

# The home: entity id -> (name, areas, device class)
HOME: dict[str, tuple[str, tuple[str, ...], str]] = {
    "light.nightstand": ("Nightstand Lamp", ("Bedroom",), ""),
    "light.reading": ("Reading Light", ("Bedroom",), ""),
    "light.kitchen_ceiling": ("Kitchen Light", ("Kitchen",), ""),
    "cover.patio": ("Patio Blinds", ("Living Room",), "blind"),
    "climate.hallway": ("Hallway Thermostat", ("Hallway", "Ground Floor"), ""),
    "media_player.kitchen_radio": ("Kitchen Radio", ("Kitchen",), ""),
}


def _record(tool: str, **arguments: Any) -> None:
    given = {k: ([getattr(x, "value", x) for x in v] if isinstance(v, list) else v)
             for k, v in arguments.items() if v is not None}
    MARKERS.mkdir(parents=True, exist_ok=True)
    with (MARKERS / "calls.jsonl").open("a") as out:
        out.write(json.dumps({"tool": tool, "arguments": given}) + "\n")


def _act(name: str | None, area: str | None, domains: list[str], classes: list[DeviceClass] | None = None) -> str:
    """HA's intent response for the entities a request reaches; an error response when it reaches none."""
    found = [(eid, e) for eid, e in HOME.items() if eid.split(".")[0] in domains]
    if name:
        found = [(eid, e) for eid, e in found if e[0].casefold() == name.casefold()]
    if area:
        found = [(eid, e) for eid, e in found if area.casefold() in (a.casefold() for a in e[1])]
    if classes:
        found = [(eid, e) for eid, e in found if e[2] in {c.value for c in classes}]
    if not found:
        return json.dumps({"response_type": "error", "speech": {"plain": {"speech": "Sorry, no device matched"}},
                           "data": {"code": "no_valid_targets"}})
    targets = [{"type": "area", "name": area, "id": area.lower().replace(" ", "_")}] if area and not name else [
        {"type": "entity", "name": e[0]} for _, e in found]
    return json.dumps({"response_type": "action_done", "speech": {}, "language": "en",
                       "data": {"targets": targets, "success": targets, "failed": []}})


@server.tool(name="HassTurnOn", description="Turns on/opens/presses a device or entity")
def turn_on(name: Name = None, area: Area = None, floor: Area = None, domain: Domains = None,
            device_class: Classes = None) -> str:
    _record("HassTurnOn", name=name, area=area, floor=floor, domain=domain, device_class=device_class)
    return _act(name, area, domain or ["light", "cover", "media_player"], device_class)


@server.tool(name="HassTurnOff", description="Turns off/closes a device or entity")
def turn_off(name: Name = None, area: Area = None, floor: Area = None, domain: Domains = None,
             device_class: Classes = None) -> str:
    _record("HassTurnOff", name=name, area=area, floor=floor, domain=domain, device_class=device_class)
    return _act(name, area, domain or ["light", "cover", "media_player"], device_class)


@server.tool(name="HassLightSet", description="Sets the brightness percentage or color of a light")
def light_set(name: Name = None, area: Area = None, floor: Area = None, domain: Domains = None,
              brightness: Percent | None = None, color: str | None = None) -> str:
    _record("HassLightSet", name=name, area=area, floor=floor, domain=domain, brightness=brightness, color=color)
    return _act(name, area, ["light"])


@server.tool(name="HassSetPosition", description="Sets the position of a device or entity")
def set_position(position: Percent, name: Name = None, area: Area = None, device_class: Classes = None,
                 domain: Domains = None) -> str:
    _record("HassSetPosition", position=position, name=name, area=area, device_class=device_class, domain=domain)
    return _act(name, area, ["cover"], device_class)


@server.tool(name="HassClimateSetTemperature", description="Sets the target temperature of a climate device or entity")
def climate_set(temperature: float, name: Name = None, area: Area = None, floor: Area = None) -> str:
    _record("HassClimateSetTemperature", temperature=temperature, name=name, area=area, floor=floor)
    if not 7 <= temperature <= 35:
        # As HA's ServiceValidationError reads through its MCP server: more than one sentence, and a link.
        # (ToolError: the SDK passes its text on; any other exception it hides behind "Error executing tool".)
        raise ToolError(f"Provided temperature {temperature} is not valid. Accepted range is 7 to 35.\n"
                         "For further information visit https://www.home-assistant.io/integrations/climate")
    return _act(name, area, ["climate"])


@server.tool(name="HassMediaPause", description="Pauses a media player")
def media_pause(name: Name = None, area: Area = None, floor: Area = None, domain: Domains = None) -> str:
    _record("HassMediaPause", name=name, area=area, floor=floor, domain=domain)
    return _act(name, area, ["media_player"])


@server.tool(name="HassMediaNext", description="Skips a media player to the next item")
def media_next(name: Name = None, area: Area = None, floor: Area = None, domain: Domains = None) -> str:
    _record("HassMediaNext", name=name, area=area, floor=floor, domain=domain)
    return _act(name, area, ["media_player"])


@server.tool(name="HassSetVolume", description="Sets the volume percentage of a media player")
def set_volume(volume_level: Percent, name: Name = None, area: Area = None) -> str:
    _record("HassSetVolume", volume_level=volume_level, name=name, area=area)
    return _act(name, area, ["media_player"])


@server.tool(name="GetLiveContext", description="Provides real-time information about the devices in the home")
def live_context() -> str:
    _record("GetLiveContext")
    listing = "".join(
        f"- names: {name}\n  domain: {eid.split('.')[0]}\n  state: 'off'\n  areas: {', '.join(areas)}\n"
        for eid, (name, areas, _) in HOME.items()
    )
    return json.dumps({"success": True, "result": "Live Context: An overview of the areas and the devices in this "
                       "smart home:\n" + listing})


if __name__ == "__main__":
    server.run("stdio")
