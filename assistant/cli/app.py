"""The `assistant` command: thin typer commands that parse, call and print.

Domain errors become one clean line and a non-zero exit here, at the CLI boundary, and nowhere else.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from assistant.cli import dictate, remote, service, tools, vram, wake
from assistant.cli.common import fail, guarded, load_config, print_json, print_table, run_async, wav_out
from assistant.cli.remote import JSON

app = typer.Typer(help="A local, offline push-to-talk voice assistant.", no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="The model catalog (models.toml).", no_args_is_help=True)
# Every command is on `app` once this module is imported: each command module hands over its own Typer,
# and nothing registers itself by being imported (shell completion and tests see the whole tree).
app.add_typer(models_app, name="models")
app.add_typer(vram.vram_app, name="vram")
app.add_typer(remote.app)
app.add_typer(service.app)
app.add_typer(tools.app)
app.add_typer(wake.app)
app.add_typer(dictate.app)


def print_version(wanted: bool) -> None:
    if wanted:
        import assistant

        # Where the code comes from, so a user (and the tests) can see which checkout a command runs.
        typer.echo(f"assistant {assistant.__version__} ({Path(assistant.__file__).resolve().parent})")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
    version: bool = typer.Option(
        False, "--version", help="Print the version and where the code is.", is_eager=True, callback=print_version
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# ---------------------------------------------------------------- offline commands (no daemon needed)


@app.command()
def transcribe(
    file: Path = typer.Argument(..., help="A WAV, FLAC or MP3 file, any sample rate."), as_json: bool = JSON
) -> None:
    """Transcribe an audio file with the ASR model."""
    from assistant.cli import offline
    from assistant.core.wire import to_json

    config = load_config()
    transcript = run_async(lambda: offline.transcribe(config, file))
    print_json(to_json(transcript)) if as_json else typer.echo(transcript.text)


@app.command()
def say(
    text: str = typer.Argument(..., help="What to say."),
    out: Path = typer.Option(None, "--out", "-o", help="Write a WAV file instead of playing (offline mode)."),
    as_json: bool = JSON,
) -> None:
    """Speak TEXT: through a running daemon, or into --out FILE.wav without one."""
    if out is None:
        remote.remote_say(text, as_json)
        return
    from assistant.cli import offline

    out = wav_out(out)
    config = load_config()
    seconds = run_async(lambda: offline.say(config, text, out))
    if as_json:
        print_json({"path": str(out), "seconds": round(seconds, 3)})
        return
    typer.echo(f"wrote {out} ({seconds:.1f} s of audio)")


@app.command()
def converse(
    audio: Path = typer.Option(..., "--audio", help="The spoken question (WAV, FLAC or MP3)."),
    out: Path = typer.Option(..., "--out", help="Where to write the spoken reply (WAV)."),
    as_json: bool = JSON,
) -> None:
    """One full voice turn from a file, without the daemon: transcript, reply and timings."""
    from assistant.cli import offline

    out = wav_out(out)
    config = load_config()
    result = run_async(lambda: offline.converse(config, audio, out))
    if as_json:
        print_json({"transcript": result.transcript, "reply": result.reply, "timings": result.timings.as_dict()})
        return
    if result.nothing_heard:
        typer.echo("nothing heard")
        return
    typer.echo(f"you said:  {result.transcript}")
    typer.echo(f"assistant: {result.reply}")
    typer.echo(offline.format_timings(result.timings.as_dict()))
    typer.echo(f"reply audio: {out}")


@models_app.command("list")
def models_list(as_json: bool = JSON) -> None:
    """List the catalog's models."""
    from assistant.cli import offline

    rows = offline.model_rows(load_config())
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["id", "kind", "engine", "vram_gb", "default", "present", "source"])


@models_app.command("check")
def models_check(as_json: bool = JSON) -> None:
    """Validate the catalog, show which model files are present, and ask remote servers for their models."""
    from assistant.cli import offline

    config = load_config()
    rows = offline.model_rows(config, probe=True)  # remote models: asks their servers
    missing_defaults = [r.id for r in rows if r.default and not r.present]
    if as_json:  # the rows first, so a script sees them whatever the exit code says
        print_json({"files": [str(p) for p in config.catalog.files], "models": rows, "missing_defaults": missing_defaults})
    else:
        typer.echo("catalog files: " + ", ".join(str(p) for p in config.catalog.files))
        for row in rows:
            mark = "ok " if row.present else "-- "
            typer.echo(f"{mark} {row.id:<24} {row.problem or 'present'}")
    if missing_defaults:
        raise fail(f"default models missing: {', '.join(missing_defaults)}; run scripts/install.sh")


@models_app.command("fetch")
def models_fetch(model_id: str = typer.Argument(..., help="A catalog id with an hf_repo."), as_json: bool = JSON) -> None:
    """Download a model of the catalog from the Hugging Face Hub (needs network access)."""
    from assistant.engines.files import fetch

    config = load_config()
    spec = guarded(lambda: config.catalog.get(model_id))
    target = guarded(lambda: fetch(spec, config.paths.models_dir))
    print_json({"id": model_id, "path": str(target)}) if as_json else typer.echo(f"fetched {model_id} into {target}")


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)  # `assistant history --json | head` is not an error
