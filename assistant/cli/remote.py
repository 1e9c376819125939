"""CLI commands that drive a running daemon over its control socket, plus `run` and `doctor`."""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any, TypeVar

import typer

from assistant.api.client import NOT_RUNNING, Client, NotRunning, call
from assistant.cli.common import fail, guarded, print_json, print_table, vram_summary
from assistant.cli.follow import Format, Presence
from assistant.cli.offline import format_timings
from assistant.core.errors import AssistantError
from assistant.core.events import LlmSwitched
from assistant.core.paths import Paths
from assistant.core.records import NewConversation
from assistant.core.wire import WireError, from_json_as
from assistant.daemon.replies import ConfigReloaded, DaemonStatus, LlmCurrent, LlmEntry, Stopping, Subscribed
from assistant.turn.history import TurnRecord
from assistant.turn.outcomes import Cancelled, Pressed, Released, Said

app = typer.Typer()  # its commands join the top-level `assistant` app (cli/app.py)
llm_app = typer.Typer(help="Choose the LLM.", no_args_is_help=True)
ptt_app = typer.Typer(help="Push-to-talk: bind these to keys in your compositor.", no_args_is_help=True)
config_app = typer.Typer(help="The daemon's configuration.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")
app.add_typer(ptt_app, name="ptt")
app.add_typer(config_app, name="config")

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
T = TypeVar("T")


def typed(result: object, kinds: tuple[type, ...]) -> Any:
    """A reply read as its type (core/wire.py): a daemon whose reply lacks a field is one clear line."""
    try:
        return from_json_as(result, *kinds)
    except WireError as exc:
        raise fail(f"the daemon's reply is not what this command reads ({exc}); restart it: `assistant service restart`") from None


def typed_list(result: object, kind: type[T]) -> list[T]:
    """A reply that is a list of `kind`, read as `typed` reads one."""
    if not isinstance(result, list):
        raise fail(f"the daemon's reply is not a list of {kind.__name__}; restart it: `assistant service restart`")
    return [typed(item, (kind,)) for item in result]


def remote(method: str, timeout: float | None = 600.0, **params: Any) -> Any:
    """Call the daemon; not running is exit code 2, any other error exit code 1."""
    # Only the socket's path is needed: a broken config file must not stop `config reload` or `status`.
    try:
        return call(Paths.from_env().socket, method, timeout=timeout, **params)
    except NotRunning:
        raise fail(NOT_RUNNING, 2) from None
    except AssistantError as exc:
        raise fail(exc.message) from None


@app.command()
def run(
    simulate_gpu: float = typer.Option(None, "--simulate-gpu", help="Act as if on a GPU of this many GB."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Serve text turns only."),
    no_hotkeys: bool = typer.Option(False, "--no-hotkeys", help="Only the CLI triggers push-to-talk."),
) -> None:
    """Run the daemon in the foreground (systemd runs this)."""
    import asyncio

    from assistant.config.settings import Config
    from assistant.daemon.lifecycle import Daemon
    from assistant.daemon.logfile import log_refusal
    from assistant.vram.meter import SimulatedMeter

    try:
        config = Config.load()
    except AssistantError as exc:
        log_refusal(Paths.from_env().log_file, exc.message)
        raise fail(exc.message) from None
    # The simulated card goes in as the meter, not into the settings: they stay what config.toml says, so a
    # reload compares the file with the file (control.py).
    meter = SimulatedMeter(total_gb=simulate_gpu) if simulate_gpu is not None else None
    code = guarded(lambda: asyncio.run(Daemon(config, meter, audio=not no_audio, hotkeys=not no_hotkeys).run()))
    raise typer.Exit(code)


@app.command()
def status(
    as_json: bool = JSON,
    follow: bool = typer.Option(False, "--follow", "-f", help="Print one JSON line per change (for panels), until stopped."),
    fmt: Format = typer.Option(Format.JSON, "--format", help="With --follow: json, or waybar's custom-module JSON."),
) -> None:
    """State, current LLM, resident models with VRAM, and the last turn's timings."""
    if follow:
        guarded(lambda: _follow(fmt))
        return
    result = remote("status", timeout=10)
    if as_json:
        print_json(result)
        return
    status_: DaemonStatus = typed(result, (DaemonStatus,))
    typer.echo(f"state:   {status_.state.value}")
    typer.echo(f"models:  asr={status_.models.asr}  llm={status_.llm}  tts={status_.models.tts}")
    typer.echo(f"vram:    {vram_summary(status_.vram, status_.resident)}")
    audio = status_.audio
    typer.echo(f"audio:   in={audio.input_problem or audio.input}  out={audio.output_problem or audio.output}")
    api = status_.api
    if api:
        typer.echo(
            f"api:     {api.url}/v1{' (key required)' if api.key_required else ''}: {api.requests} requests,"
            f" {api.errors} errors ({api.rejected} turned away busy), {api.in_flight} working, {api.queued} queued,"
            f" {api.sessions} realtime sessions"
        )
    if status_.resident:
        print_table(status_.resident, ["id", "kind", "state", "device", "declared_gb", "measured_gb", "leases"])
    latency = status_.latency
    if latency.turns and latency.p50_s is not None and latency.p95_s is not None:
        typer.echo(
            f"latency: release → first audio p50 {latency.p50_s:.2f} s, p95 {latency.p95_s:.2f} s"
            f" (last {latency.turns} voice turns)"
        )
    ahead = latency.answered_ahead
    if ahead.turns and ahead.hit_rate is not None and ahead.wasted_s_per_turn is not None:
        typer.echo(
            f"answered ahead: {ahead.hit_rate:.0%} of {ahead.turns} guessed turns played the reply made while"
            f" the key was held; {ahead.wasted_s_per_turn:.2f} s of discarded work per turn"
        )
    turn = status_.last_turn
    if turn:
        typer.echo(f"last turn: {_cut(turn.transcript)!r} → {_cut(turn.reply)!r}")
        typer.echo(format_timings(turn.timings))


def _follow(fmt: Format) -> None:
    """The panel's view, then a line each time an event changes it: the daemon pushes them, nothing is polled."""
    try:
        with Client(Paths.from_env().socket, timeout=None) as client:
            view = Presence.of(typed(client.call("status"), (DaemonStatus,)))
            subscribed: Subscribed = typed(client.call("subscribe"), (Subscribed,))
            view = replace(view, state=subscribed.state.value)  # a change in between is in here
            typer.echo(view.line(fmt))
            for event in client.events(subscribed=True):
                changed = view.after(event)
                if changed != view:
                    view = changed
                    typer.echo(view.line(fmt))
    except NotRunning:
        typer.echo(Presence("stopped").line(fmt))
        raise fail(NOT_RUNNING, 2) from None
    except KeyboardInterrupt:
        return


def _cut(text: str, limit: int = 120) -> str:
    """A long reply on one status line: its start, and how much more `assistant history` has."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + f"… (+{len(text) - limit + 1} chars)"


@llm_app.command("list")
def llm_list(as_json: bool = JSON) -> None:
    """The LLMs in the catalog; * marks the current one."""
    result = remote("llm.list", timeout=10)
    if as_json:
        print_json(result)
        return
    rows = [replace(row, id=("* " if row.current else "  ") + row.id) for row in typed_list(result, LlmEntry)]
    print_table(rows, ["id", "state", "vram_gb", "measured_gb", "present", "description"])


@llm_app.command("current")
def llm_current(as_json: bool = JSON) -> None:
    """The LLM in use."""
    result = remote("llm.current", timeout=10)
    print_json(result) if as_json else typer.echo(typed(result, (LlmCurrent,)).id)


@llm_app.command("use")
def llm_use(model_id: str = typer.Argument(..., help="An LLM id from `assistant llm list`."), as_json: bool = JSON) -> None:
    """Switch the LLM; the choice survives a restart."""
    result = remote("llm.use", id=model_id)
    if as_json:
        print_json(result)
        return
    switched: LlmSwitched = typed(result, (LlmSwitched,))
    typer.echo(f"LLM is now {switched.id} (was {switched.previous})")


def _ptt(action: str, as_json: bool) -> None:
    result = remote(f"ptt.{action}", timeout=30)
    if as_json:
        print_json(result)
        return
    reply = typed(result, {"cancel": (Cancelled,), "release": (Released,)}.get(action, (Released, Pressed)))
    if isinstance(reply, Cancelled):
        typer.echo("cancelled" if reply.cancelled else "nothing to cancel")
    elif isinstance(reply, Pressed) and reply.dismissed:
        typer.echo("dismissed the ringing alarm")
    else:
        typer.echo(reply.state.value)


@ptt_app.command("press")
def ptt_press(as_json: bool = JSON) -> None:
    """Start listening (barges in if the assistant is speaking)."""
    _ptt("press", as_json)


@ptt_app.command("release")
def ptt_release(as_json: bool = JSON) -> None:
    """Stop listening and answer."""
    _ptt("release", as_json)


@ptt_app.command("toggle")
def ptt_toggle(as_json: bool = JSON) -> None:
    """Press if idle, release if listening: for shortcuts that have no key-up."""
    _ptt("toggle", as_json)


@ptt_app.command("cancel")
def ptt_cancel(as_json: bool = JSON) -> None:
    """Stop listening or speaking without answering."""
    _ptt("cancel", as_json)


@app.command()
def ask(
    text: str = typer.Argument(..., help="The question."),
    no_speak: bool = typer.Option(False, "--no-speak", help="Answer in text only."),
    as_json: bool = JSON,
) -> None:
    """Ask by text; the reply is spoken and printed."""
    result = remote("ask", text=text, speak=not no_speak)
    if as_json:
        print_json(result)
        return
    turn = typed(result, (TurnRecord,))
    typer.echo(turn.reply)
    if turn.audio_path:
        typer.echo(f"(no output device: reply audio in {turn.audio_path})", err=True)


@app.command("history")
def history(
    as_json: bool = JSON,
    clear: bool = typer.Option(False, "--clear", help="Start a new conversation."),
    all_: bool = typer.Option(False, "--all", help="Every conversation, not only the current one."),
    limit: int = typer.Option(None, "--limit", "-n", help="Only the last N turns."),
) -> None:
    """The turns of the conversation: transcript, reply and timings."""
    if clear:
        new_conversation(as_json)
        return
    result = remote("history", timeout=30, all=all_, **({} if limit is None else {"limit": limit}))
    if as_json:
        print_json(result)
        return
    turns: list[TurnRecord] = typed(result, (list[TurnRecord],))
    for turn in turns:
        when = datetime.datetime.fromtimestamp(turn.started).strftime("%H:%M:%S")
        status_ = turn.error or ("nothing heard" if turn.nothing_heard else "")
        typer.echo(f"[{when}] you: {turn.transcript}")
        typer.echo(f"           assistant: {turn.reply}{' (interrupted)' if turn.interrupted else ''} {status_}")


@app.command("new")
def new_conversation(as_json: bool = JSON) -> None:
    """Start a fresh conversation."""
    result = remote("new", timeout=10)
    print_json(result) if as_json else typer.echo(f"new conversation #{typed(result, (NewConversation,)).conversation}")


@app.command()
def devices(as_json: bool = JSON) -> None:
    """Audio inputs and outputs with their sample rates."""
    from assistant.audio.devices import list_devices

    rows = guarded(list_devices)
    print_json(rows) if as_json else print_table(rows, ["index", "name", "inputs", "outputs", "rate", "default"])


@app.command()
def tray(
    wait: bool = typer.Option(False, "--wait", help="With no panel yet, say so once and show the icon when one starts."),
) -> None:
    """A tray icon (StatusNotifierItem) that shows what the assistant is doing, with its menu; until the daemon stops.

    The daemon starts one itself in a graphical session (with --wait) unless [desktop] tray = false.
    """
    from assistant.cli.tray import run_tray

    paths = Paths.from_env()
    raise typer.Exit(guarded(lambda: run_tray(paths.socket, paths.log_file, wait)))


@app.command()
def logs(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines as the daemon writes them."),
    lines: int = typer.Option(200, "--lines", "-n", help="How many of the last lines to print."),
) -> None:
    """The daemon's log: its file in the state dir, written by the service and by `assistant run` alike."""
    from assistant.cli.logs import print_log

    path = Paths.from_env().log_file
    if not path.exists():
        raise fail(
            f"no log yet at {path}: the daemon writes it while it runs (`scripts/run.sh`, or the service); "
            "a daemon in a terminal also prints its warnings there"
        )
    guarded(lambda: print_log(path, lines, follow))


@config_app.command("reload")
def config_reload(as_json: bool = JSON) -> None:
    """Re-read config.toml and models.toml; on an error the old config stays."""
    result = remote("config.reload", timeout=30)
    if as_json:
        print_json(result)
        return
    reloaded: ConfigReloaded = typed(result, (ConfigReloaded,))
    read = list(reloaded.files)
    if reloaded.config_file_exists is False:  # named all the same: the user sees where it would be read
        read = [f"{read[0]} (absent: the defaults)", *read[1:]]
    typer.echo("reloaded " + ", ".join(read))
    if reloaded.restart_needed:
        typer.echo(f"changed in config.toml, taking effect only after a restart: {', '.join(reloaded.restart_needed)}")
        typer.echo(f"to restart: {reloaded.restart_command or 'systemctl --user restart assistant'}")


@app.command()
def shutdown(as_json: bool = JSON) -> None:
    """Stop the daemon, and return once its process is gone."""
    from assistant.cli.common import wait_gone

    result = remote("shutdown", timeout=10)
    pid = typed(result, (Stopping,)).pid
    gone = wait_gone(pid) if pid is not None else None
    if as_json:
        print_json({**result, "stopped": gone})
        return
    if gone is False:
        raise fail(f"asked the daemon to stop, but its process {pid} is still there; `assistant logs` says why")
    typer.echo("stopped" if gone else "stopping")


@app.command()
def doctor(as_json: bool = JSON) -> None:
    """Check hotkey sources, audio devices, GPU and NVML, models and the systemd unit."""
    from assistant.cli.doctor import load_for_checks, run_checks

    config, checks = load_for_checks()  # a broken config is one failed check, not the end of the checks
    checks += run_checks(config)
    if as_json:
        print_json(checks)
        return
    for check in checks:
        typer.echo(f"{'ok ' if check.ok else '-- '} {check.name:<16} {check.detail}")


def remote_say(text: str, as_json: bool = False) -> None:
    result = remote("say", text=text)
    if as_json:
        print_json(result)
        return
    said = typed(result, (Said,))
    if said.interrupted:
        typer.echo("(interrupted)")
    elif said.audio_path:
        typer.echo(f"(no output device: audio in {said.audio_path})")


