"""Make a SadTalker checkout run on today's numpy and Pillow, in place. Safe to run again.

    python scripts/patch_sadtalker.py /path/to/SadTalker

SadTalker's source (checked at commit cd4c046) uses two names that newer libraries removed, both on
the path the studio calls: ``np.float`` (gone in numpy 1.24) where its 98-point face alignment
turns heatmaps into points, and ``Image.ANTIALIAS`` (gone in Pillow 10) where it crops the photo.
Each fix swaps the removed name for the one its library kept (``np.float64``, ``Image.LANCZOS``: the
same values), in those files only. Prints one line per file; exits 1 with a readable line when the
folder is not a SadTalker checkout.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# file in the checkout → (the removed name, a pattern that finds only it, what replaces it)
FIXES = {
    "src/face3d/util/my_awing_arch.py": ("np.float", re.compile(r"\bnp\.float\b(?![\d_])"), "np.float64"),
    "src/utils/croper.py": ("Image.ANTIALIAS", re.compile(r"\bImage\.ANTIALIAS\b"), "Image.LANCZOS"),
}


def patch(checkout: Path) -> list[str]:
    """Apply the fixes to ``checkout``; one line per file saying what was done."""
    if not (checkout / "src").is_dir():
        raise SystemExit(f"error: {checkout} is not a SadTalker checkout (no src/ folder)")
    report = []
    for name, (removed_name, removed, kept) in FIXES.items():
        path = checkout / name
        if not path.is_file():
            raise SystemExit(f"error: {path} is missing — is this a SadTalker checkout of 2023 or later?")
        text = path.read_text(encoding="utf-8")
        fixed, count = removed.subn(kept, text)
        if count:
            path.write_text(fixed, encoding="utf-8")
        report.append(f"{name}: {removed_name} → {kept} ({count}×)" if count else f"{name}: already fine")
    return report


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/patch_sadtalker.py /path/to/SadTalker")
    for line in patch(Path(sys.argv[1])):
        print(line)
