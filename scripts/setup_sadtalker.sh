#!/usr/bin/env bash
# Get SadTalker ready for the studio's `sadtalker` renderer (docs/gpu-workstation.md):
# clone it at the commit the studio was written against, download its checkpoints with its own
# script (they land in checkpoints/ and gfpgan/weights/), and apply scripts/patch_sadtalker.py
# (two names newer numpy and Pillow removed). Needs git and wget, and GitHub reachable.
#   bash scripts/setup_sadtalker.sh [DIR]     (default: third_party/SadTalker)
# Then put SADTALKER_DIR=<DIR> in .env (the script prints the line).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-third_party/SadTalker}
COMMIT=cd4c0465ae0b54a6f85af57f5c65fec9fe23e7f8
if [ ! -d "$DIR/.git" ]; then
  git clone https://github.com/OpenTalker/SadTalker "$DIR"
fi
git -C "$DIR" checkout --quiet "$COMMIT"
(cd "$DIR" && bash scripts/download_models.sh)
python3 scripts/patch_sadtalker.py "$DIR"
echo "SadTalker is ready. Add this line to .env:"
echo "SADTALKER_DIR=$(cd "$DIR" && pwd)"
