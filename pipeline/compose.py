"""The one re-encode that packages a video differently from how it was rendered: framed for a
format (``formats.py``: the canvas, the background, the face in the safe area) and/or with its
captions drawn in (``burn_in.py``). Without either the encode stage copies the picture as it is
(``media.mux``); with either, every frame is re-encoded once, so both are drawn in the same pass.

The filter graph, in ffmpeg's terms: the video scaled to its place and laid over the background —
``blurred``: the frame scaled to cover the canvas and box-blurred; ``extended``: the frame padded
to the canvas and its edge pixels smeared outwards (``fillborders``) — then the ASS captions drawn
over the whole canvas. Frames pass through as stored (``-fps_mode passthrough``), so the frame
count stays the render's.

ffmpeg runs in a temporary folder holding the ASS file and the caption font, named relatively, so
no path (a data folder with a colon or a quote in it) has to survive the filter syntax's escaping.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .burn_in import FONT_FILE, ass_document, font_file
from .captions import Cue
from .files import partial_path
from .formats import Framing
from .media import DEFAULT_CRF, DEFAULT_PRESET, probe, run_ffmpeg

BLUR_OF_SIDE = 1 / 20  # the blurred background's box radius, as a share of the canvas's shorter side


def framing_filter(framing: Framing, background: str) -> str:
    """The filter graph from ``[0:v]`` to ``[framed]`` for ``framing`` on a ``background``."""
    (width, height), (w, h), (x, y) = framing.canvas, framing.size, framing.position
    if background == "extended":
        return (f"[0:v]scale={w}:{h}:flags=lanczos,setsar=1,pad={width}:{height}:{x}:{y},"
                f"fillborders=left={x}:right={width - w - x}:top={y}:bottom={height - h - y}:mode=smear[framed]")
    radius = max(2, round(min(width, height) * BLUR_OF_SIDE))
    return (f"[0:v]split=2[back][front];"
            f"[back]scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},"
            f"boxblur=luma_radius={radius}:luma_power=2:chroma_radius={max(1, radius // 2)}:chroma_power=2,"
            f"setsar=1[blurred];"
            f"[front]scale={w}:{h}:flags=lanczos,setsar=1[placed];[blurred][placed]overlay={x}:{y}[framed]")


def compose_video(video: Path, out: Path, *, cues: Sequence[Cue] = (), framing: Framing | None = None,
                  background: str = "blurred", audio: Path | None = None, audio_bitrate: str = "128k") -> None:
    """``video`` framed (``framing``, on ``background``) and/or with ``cues`` drawn in, as ``out``: H.264
    yuv420p, faststart, every frame kept. The sound is ``audio`` (a WAV, encoded to AAC) when given,
    else ``video``'s own, copied. ``out`` may be ``video`` itself: it is replaced once complete."""
    stream = probe(video).video
    width, height = framing.canvas if framing else (stream.width, stream.height)
    graph = framing_filter(framing, background) if framing else "[0:v]null[framed]"
    graph += ";[framed]ass=captions.ass:fontsdir=fonts[out]" if cues else ";[framed]null[out]"
    tmp = partial_path(out)
    try:
        with tempfile.TemporaryDirectory(prefix="compose-") as folder:
            if cues:
                fonts = Path(folder) / "fonts"
                fonts.mkdir()
                os.symlink(font_file(), fonts / FONT_FILE)
                document = ass_document(cues, width=width, height=height, safe=framing.safe if framing else None)
                (Path(folder) / "captions.ass").write_text(document, encoding="utf-8")
            inputs = ["-i", str(Path(video).resolve()), *(["-i", str(Path(audio).resolve())] if audio else [])]
            sound = (["-map", "1:a:0", "-c:a", "aac", "-b:a", audio_bitrate] if audio
                     else ["-map", "0:a:0", "-c:a", "copy"])
            run_ffmpeg([*inputs, "-filter_complex", graph, "-map", "[out]", *sound, "-fps_mode", "passthrough",
                        "-c:v", "libx264", "-preset", DEFAULT_PRESET, "-crf", str(DEFAULT_CRF), "-pix_fmt", "yuv420p",
                        "-movflags", "+faststart", str(tmp.resolve())],
                       what="framing the video and drawing its captions", cwd=Path(folder))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
