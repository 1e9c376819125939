#!/usr/bin/env bash
# Set up .venv when needed and start the daemon on the embedded default models.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install.sh
exec .venv/bin/assistant run "$@"
