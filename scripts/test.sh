#!/usr/bin/env bash
# The test command: install runtime and test needs (and Ray, for the batch tests) into .venv, then run the suite (extra
# arguments go to pytest) on as many workers as the machine has cores, two at most
# (AVATAR_STUDIO_TEST_WORKERS sets another number; 0 runs it in this one process). A test file's tests
# stay on one worker (--dist loadfile), so its module fixtures are made once.
# With AVATAR_STUDIO_GPU_STACK=1 (CI sets it) it also builds the GPU stack in .venv-gpu (bash
# scripts/setup.sh --test --gpu: CUDA torch, torchvision, basicsr, gfpgan — it runs on a CPU too),
# beside the suite (mostly downloading and unpacking), and then runs the tests that need it there,
# where they may not skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test --scale
export AVATAR_STUDIO_REQUIRE_RAY=1  # installed just now: the Ray tests may not skip
status=0
gpu_build=""
gpu_log=.venv-gpu-build.log
if [ "${AVATAR_STUDIO_GPU_STACK:-}" = 1 ]; then
  echo "== building the GPU stack (.venv-gpu) beside the suite; its log: $gpu_log"
  started=$(date +%s)
  gpu_env=(AVATAR_STUDIO_VENV=.venv-gpu)
  # CI sets this to /dev/null: that machine's pip configuration (pip.conf and PIP_FIND_LINKS) offers
  # a local CPU torch wheel, and the GPU stack must get PyPI's CUDA build, as a GPU workstation does.
  unset_env=()
  if [ -n "${AVATAR_STUDIO_GPU_PIP_CONFIG:-}" ]; then
    gpu_env+=(PIP_CONFIG_FILE="$AVATAR_STUDIO_GPU_PIP_CONFIG")
    unset_env=(-u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL)
  fi
  env "${unset_env[@]}" "${gpu_env[@]}" nice -n 10 bash scripts/setup.sh --test --gpu > "$gpu_log" 2>&1 &
  gpu_build=$!
fi
workers=${AVATAR_STUDIO_TEST_WORKERS:-$(( $(nproc) < 2 ? $(nproc) : 2 ))}
parallel=()
[ "$workers" -gt 1 ] && parallel=(-n "$workers" --dist loadfile)
.venv/bin/python -m pytest -q "${parallel[@]}" "$@" tests || status=$?
if [ -n "$gpu_build" ]; then
  echo "== the GPU stack (.venv-gpu): tests/test_gfpgan.py"
  if wait "$gpu_build"; then
    echo "   .venv-gpu ready $(( $(date +%s) - started )) s after it was begun"
    AVATAR_STUDIO_REQUIRE_GPU_STACK=1 .venv-gpu/bin/python -m pytest -q -p no:cacheprovider "$@" tests/test_gfpgan.py \
      || status=$?
  else
    echo "error: the GPU stack did not build; the end of $gpu_log:" >&2
    tail -n 40 "$gpu_log" >&2
    status=1
  fi
fi
exit $status
