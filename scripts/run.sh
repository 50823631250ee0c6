#!/usr/bin/env bash
# Install into .venv if needed, then launch the studio (extra arguments go to app.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
