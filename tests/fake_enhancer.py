"""A face enhancer from outside the studio, registered like a plugin would be, for the CLI and lab
tests: it negates every pixel with ffmpeg (lossless), so a delivered video shows whether the
enhanced file, not the render, was encoded."""

from __future__ import annotations

import subprocess

from pipeline.enhance import Enhancer
from pipeline.media import ffmpeg_exe


class NegatingEnhancer(Enhancer):
    name = "negate"

    def enhance(self, src, dst, *, settings, progress=None, keep_audio=False) -> dict:
        subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-vf", "negate",
                        "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", "-an", str(dst)], check=True)
        progress(1.0)
        return {"notes": ["negated every pixel"]}
