"""The time and date, here or in a named city or zone, from the system clock and zoneinfo."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from assistant.tools.registry import Tool, ToolResult, builtin_tool

Now = Callable[[], dt.datetime]  # an aware datetime; tests pass a fixed one

# Common places people ask about → their IANA zone. A place not here (nor a zone name) gets a question back.
CITIES = {
    "tokyo": "Asia/Tokyo", "japan": "Asia/Tokyo", "osaka": "Asia/Tokyo", "seoul": "Asia/Seoul",
    "korea": "Asia/Seoul", "beijing": "Asia/Shanghai", "shanghai": "Asia/Shanghai", "china": "Asia/Shanghai",
    "hong kong": "Asia/Hong_Kong", "taipei": "Asia/Taipei", "singapore": "Asia/Singapore",
    "bangkok": "Asia/Bangkok", "jakarta": "Asia/Jakarta", "manila": "Asia/Manila", "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata", "mumbai": "Asia/Kolkata", "bangalore": "Asia/Kolkata", "india": "Asia/Kolkata",
    "karachi": "Asia/Karachi", "dubai": "Asia/Dubai", "tehran": "Asia/Tehran", "jerusalem": "Asia/Jerusalem",
    "tel aviv": "Asia/Jerusalem", "istanbul": "Europe/Istanbul", "moscow": "Europe/Moscow",
    "london": "Europe/London", "england": "Europe/London", "uk": "Europe/London", "dublin": "Europe/Dublin",
    "lisbon": "Europe/Lisbon", "paris": "Europe/Paris", "france": "Europe/Paris", "berlin": "Europe/Berlin",
    "germany": "Europe/Berlin", "munich": "Europe/Berlin", "madrid": "Europe/Madrid", "spain": "Europe/Madrid",
    "barcelona": "Europe/Madrid", "rome": "Europe/Rome", "italy": "Europe/Rome", "milan": "Europe/Rome",
    "amsterdam": "Europe/Amsterdam", "brussels": "Europe/Brussels", "zurich": "Europe/Zurich",
    "vienna": "Europe/Vienna", "prague": "Europe/Prague", "warsaw": "Europe/Warsaw",
    "stockholm": "Europe/Stockholm", "oslo": "Europe/Oslo", "copenhagen": "Europe/Copenhagen",
    "helsinki": "Europe/Helsinki", "athens": "Europe/Athens", "kyiv": "Europe/Kyiv", "kiev": "Europe/Kyiv",
    "cairo": "Africa/Cairo", "lagos": "Africa/Lagos", "nairobi": "Africa/Nairobi",
    "johannesburg": "Africa/Johannesburg", "cape town": "Africa/Johannesburg",
    "new york": "America/New_York", "new york city": "America/New_York", "boston": "America/New_York",
    "washington": "America/New_York", "miami": "America/New_York", "atlanta": "America/New_York",
    "toronto": "America/Toronto", "montreal": "America/Toronto", "chicago": "America/Chicago",
    "houston": "America/Chicago", "dallas": "America/Chicago", "mexico city": "America/Mexico_City",
    "denver": "America/Denver", "phoenix": "America/Phoenix", "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles", "vancouver": "America/Vancouver",
    "california": "America/Los_Angeles", "anchorage": "America/Anchorage", "honolulu": "Pacific/Honolulu",
    "hawaii": "Pacific/Honolulu", "sao paulo": "America/Sao_Paulo", "rio de janeiro": "America/Sao_Paulo",
    "brazil": "America/Sao_Paulo", "buenos aires": "America/Argentina/Buenos_Aires", "lima": "America/Lima",
    "bogota": "America/Bogota", "santiago": "America/Santiago", "sydney": "Australia/Sydney",
    "melbourne": "Australia/Melbourne", "brisbane": "Australia/Brisbane", "perth": "Australia/Perth",
    "auckland": "Pacific/Auckland", "new zealand": "Pacific/Auckland", "utc": "UTC", "gmt": "UTC",
}


@dataclass(frozen=True)
class Place:
    """Where to tell the time or date of: a city or IANA zone; empty for here."""

    place: str = ""


def local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def find_zone(place: str) -> tuple[zoneinfo.ZoneInfo, str] | None:
    """The zone of a place and the name to say for it, or None when the place is not known."""
    key = " ".join(place.lower().replace(".", "").replace(",", " ").split())
    key = key.removeprefix("the ")
    if key in CITIES:
        name = place.strip().title() if len(key) > 3 else key.upper()
        return zoneinfo.ZoneInfo(CITIES[key]), name
    wanted = place.strip().replace(" ", "_")
    for zone in zoneinfo.available_timezones():
        if zone.lower() == wanted.lower():
            return zoneinfo.ZoneInfo(zone), zone
    return None


def clock_time(moment: dt.datetime) -> str:
    """10:06 PM (digits: the voice reads them out)."""
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def day_and_date(moment: dt.datetime) -> str:
    return f"{moment:%A}, {moment:%B} {moment.day}, {moment.year}"


@dataclass(frozen=True)
class TimeIn:
    """`get_time`'s result: the time there, and the zone (or "local")."""

    iso: str
    zone: str


@dataclass(frozen=True)
class DateIn:
    date: str  # ISO 8601
    weekday: str


@dataclass(frozen=True)
class UnknownPlace:
    place: str
    known: bool = False


def _where(args: Place) -> tuple[zoneinfo.ZoneInfo | None, str, ToolResult | None]:
    place = args.place.strip()
    if not place:
        return None, "", None
    found = find_zone(place)
    if found is None:
        question = f"I don't know which time zone {place.title()} is in. Which city or time zone do you mean?"
        return None, "", ToolResult(question, UnknownPlace(place), ok=False)
    return found[0], found[1], None


def clock_tools(now: Now = local_now) -> list[Tool]:
    async def get_time(args: Place) -> ToolResult:
        zone, name, problem = _where(args)
        if problem is not None:
            return problem
        moment = now() if zone is None else now().astimezone(zone)
        text = f"It's {clock_time(moment)}" + (f" in {name}." if zone is not None else ".")
        if zone is not None and moment.date() != now().date():
            text = text[:-1] + f", on {moment:%A}."
        return ToolResult(text, TimeIn(moment.isoformat(timespec="seconds"), str(zone or "local")))

    async def get_date(args: Place) -> ToolResult:
        zone, name, problem = _where(args)
        if problem is not None:
            return problem
        moment = now() if zone is None else now().astimezone(zone)
        text = f"It's {day_and_date(moment)}" + (f" in {name}." if zone is not None else ".")
        return ToolResult(text, DateIn(moment.date().isoformat(), f"{moment:%A}"))

    place = {
        "type": "object",
        "properties": {"place": {"type": "string", "description": "A city or IANA time zone; empty for here."}},
    }
    return [
        builtin_tool("get_time", "The current time, here or in a named city or time zone.", place, Place, get_time),
        builtin_tool("get_date", "Today's date and weekday, here or in a named city or time zone.", place, Place, get_date),
    ]
