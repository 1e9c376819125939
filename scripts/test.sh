#!/usr/bin/env bash
# Set up (scripts/install.sh --with-coqui) and run every test; extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install.sh --with-coqui
exec .venv/bin/python -m pytest "$@"
