#!/usr/bin/env bash
# Set up what the chosen tests need and run them; extra arguments go to pytest.
#
#   scripts/test.sh                 every test (installs the Coqui extra, about 7.6 GB, once)
#   scripts/test.sh -m quick        pure logic on the light store: no engine, model, server or sound
#   scripts/test.sh -m NAME         one group (markers in pyproject.toml); Coqui only for -m coqui
#   scripts/test.sh --help          this, and pytest's own options if .venv exists (installs nothing)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

marker=""
previous=""
for arg in "$@"; do
    case "$arg" in
        -h|--help)
            sed -n '2,7p' "$0"
            if [[ -x .venv/bin/python ]]; then
                echo
                exec .venv/bin/python -m pytest --help
            fi
            exit 0
            ;;
        -m*) [[ $arg == -m ]] || marker="${arg#-m}" ;;
    esac
    [[ $previous == -m ]] && marker="$arg"
    previous="$arg"
done

# The Coqui extra only for its own group or a full run; the light store for the quick tests alone.
if [[ -z $marker || $marker == *coqui* && $marker != *"not coqui"* ]]; then
    scripts/install.sh --with-coqui
elif [[ $marker == quick ]]; then
    scripts/install.sh --light
else
    scripts/install.sh
fi
exec .venv/bin/python -m pytest "$@"
