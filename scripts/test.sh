#!/usr/bin/env bash
# The test command: install runtime and test needs into .venv, then run the whole suite (extra
# arguments go to pytest). With AVATAR_STUDIO_GPU_STACK=1 (CI sets it) it then also builds the GPU
# stack in .venv-gpu (bash scripts/setup.sh --test --gpu: CUDA torch, torchvision, basicsr, gfpgan — it
# runs on a CPU too) and runs the tests that need it there, where they may not skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
status=0
.venv/bin/python -m pytest -q "$@" tests || status=$?
if [ "${AVATAR_STUDIO_GPU_STACK:-}" = 1 ]; then
  echo "== the GPU stack (.venv-gpu): tests/test_gfpgan.py"
  started=$(date +%s)
  gpu_env=(AVATAR_STUDIO_VENV=.venv-gpu)
  # CI sets this to /dev/null: that machine's pip configuration (pip.conf and PIP_FIND_LINKS) offers
  # a local CPU torch wheel, and the GPU stack must get PyPI's CUDA build, as a GPU workstation does.
  unset_env=()
  if [ -n "${AVATAR_STUDIO_GPU_PIP_CONFIG:-}" ]; then
    gpu_env+=(PIP_CONFIG_FILE="$AVATAR_STUDIO_GPU_PIP_CONFIG")
    unset_env=(-u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL)
  fi
  env "${unset_env[@]}" "${gpu_env[@]}" bash scripts/setup.sh --test --gpu
  echo "   .venv-gpu ready in $(( $(date +%s) - started )) s"
  AVATAR_STUDIO_REQUIRE_GPU_STACK=1 .venv-gpu/bin/python -m pytest -q -p no:cacheprovider "$@" tests/test_gfpgan.py \
    || status=$?
fi
exit $status
