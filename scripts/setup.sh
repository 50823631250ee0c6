#!/usr/bin/env bash
# Create .venv if it is missing and install what Avatar Studio needs into it. Re-running is cheap:
# pip runs again only when a requirements file changed. Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then  # missing, or left half-made
  "$PYTHON" -m venv --clear .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
files=(requirements.txt requirements-nodeps.txt)
if [ "${1:-}" = "--test" ]; then files+=(requirements-test.txt requirements-test-nodeps.txt); fi
stamp=".venv/.installed-$(cat "${files[@]}" | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -r requirements.txt
  # mediapipe 0.10.21 declares numpy<2, jax and opencv-contrib; its face mesh needs none of them.
  .venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
  if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install --quiet -r requirements-test.txt
    .venv/bin/python -m pip install --quiet --no-deps -r requirements-test-nodeps.txt
  fi
  touch "$stamp"
fi
