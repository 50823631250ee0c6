#!/usr/bin/env bash
# Create the venv if it is missing and install what Avatar Studio needs into it. Re-running is cheap:
# pip runs again only when a requirements file changed.
#   bash scripts/setup.sh [--test] [--gpu] [--scale]
#     --test  also the test needs (pytest, Playwright, …)
#     --gpu   also the GPU path: SadTalker's needs, GFPGAN, openai-whisper (requirements-gpu*.txt)
#     --scale also Ray, for batch renders on a cluster (requirements-scale.txt; every node needs it)
# The venv is .venv, or $AVATAR_STUDIO_VENV (CI builds the GPU stack in .venv-gpu, apart from the
# default install it checks).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${AVATAR_STUDIO_VENV:-.venv}
test_needs=0 gpu=0 scale=0
for arg in "$@"; do
  case "$arg" in
    --test) test_needs=1 ;;
    --gpu) gpu=1 ;;
    --scale) scale=1 ;;
    *) echo "error: unknown option $arg (use --test, --gpu and/or --scale)" >&2; exit 2 ;;
  esac
done
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then  # missing, or left half-made
  "$PYTHON" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
files=(requirements.txt requirements-nodeps.txt)
[ "$test_needs" = 1 ] && files+=(requirements-test.txt requirements-test-nodeps.txt)
[ "$gpu" = 1 ] && files+=(requirements-gpu.txt requirements-gpu-nodeps.txt)
[ "$scale" = 1 ] && files+=(requirements-scale.txt)
stamp="$VENV/.installed-$(cat "${files[@]}" | sha256sum | cut -c1-16)"
pip_install() { "$VENV/bin/python" -m pip install --quiet "$@"; }
if [ ! -e "$stamp" ]; then
  pip_install -r requirements.txt
  # mediapipe 0.10.21 declares numpy<2, jax and opencv-contrib; its face mesh needs none of them.
  pip_install --no-deps -r requirements-nodeps.txt
  if [ "$gpu" = 1 ]; then
    pip_install -r requirements-gpu.txt
    # gfpgan declares the original basicsr, which no longer imports; basicsr-fixed stands in.
    pip_install --no-deps -r requirements-gpu-nodeps.txt
  fi
  if [ "$gpu" = 1 ] && ! "$VENV/bin/python" -c "import torchvision" >/dev/null 2>&1; then
    torch_build=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
    echo "error: torchvision does not import with torch $torch_build. The GPU path needs PyPI's CUDA build" \
         "of torch==2.13.0 (a CPU build such as 2.13.0+cpu cannot load torchvision, and a broken" \
         "torchvision also breaks the local LLM). Start again with a fresh venv where pip takes torch" \
         "from PyPI: rm -rf $VENV && bash scripts/setup.sh --gpu" >&2
    exit 1
  fi
  [ "$scale" = 1 ] && pip_install -r requirements-scale.txt
  if [ "$test_needs" = 1 ]; then
    pip_install -r requirements-test.txt
    [ "$gpu" = 1 ] || pip_install --no-deps -r requirements-test-nodeps.txt  # --gpu brought openai-whisper already
  fi
  touch "$stamp"
fi
