"""Captions drawn into the video's frames ("burned in"), for places that show no caption track.

The bundled ffmpeg (imageio-ffmpeg's static build) has libass, so the captions are drawn by its
``ass`` filter in the same pass that encodes the video — no frame goes through Python, and the
cost is one libx264 encode, which packaging with burned captions needs anyway. We write the ASS
document ourselves from the cues (``ass_document``) rather than hand ffmpeg the SRT: the cue's
lines stay the lines the captions stage chose, and the style is sized to this video.

The font is DejaVu Sans from matplotlib's package data (matplotlib is a dependency of the studio),
given to libass as the only font in a folder of its own (``fontsdir``): what is drawn never
depends on the fonts a machine happens to have, and a Space without any still gets text. The
size is measured with Pillow's FreeType on the same font file: the widest line of all the cues
fits 90% of the frame's width, and the font's em is at most ``MAX_SIZE_OF_HEIGHT`` of the frame's
height; white with a dark outline, centred near the bottom, where a viewer's eye expects captions.

ffmpeg runs in a temporary folder holding the ASS file and the font, named relatively, so no path
(a data folder with a colon or a quote in it) has to survive the filter syntax's escaping.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .captions import Cue
from .errors import BackendUnavailable
from .files import partial_path
from .media import DEFAULT_CRF, DEFAULT_PRESET, probe, run_ffmpeg

FONT_NAME = "DejaVu Sans"
FONT_FILE = "DejaVuSans.ttf"
MAX_SIZE_OF_HEIGHT = 0.055  # the largest a caption's em gets, as a share of the frame's height
WIDTH_USED = 0.9  # the widest line may take this share of the frame's width
MARGIN_OF_HEIGHT = 0.06  # from the bottom edge to the lowest line


@functools.cache
def font_file() -> Path:
    """DejaVu Sans, from matplotlib's package data."""
    try:
        import matplotlib
    except ImportError as error:
        raise BackendUnavailable(f"drawing captions into the video needs matplotlib's fonts ({error})") from None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / FONT_FILE
    if not path.is_file():
        raise BackendUnavailable(f"drawing captions into the video needs {path}, which is missing")
    return path


def font_size(cues: Sequence[Cue], width: int, height: int) -> int:
    """The ASS font size (libass sizes a font by its ascent plus descent, not its em) at which the widest
    line of ``cues`` fits ``WIDTH_USED`` of ``width``, capped at ``MAX_SIZE_OF_HEIGHT`` of ``height``."""
    from PIL import ImageFont

    probe_size = 100
    font = ImageFont.truetype(str(font_file()), probe_size)
    ascent, descent = font.getmetrics()
    widest = max((font.getlength(line) for cue in cues for line in cue.lines), default=0.0)
    # at ASS size s the em is s·probe_size/(ascent+descent), so a line is widest·s/(ascent+descent) wide
    fitting = WIDTH_USED * width * (ascent + descent) / widest if widest else float("inf")
    return max(8, int(min(fitting, MAX_SIZE_OF_HEIGHT * height * (ascent + descent) / probe_size)))


def _ass_time(seconds: float) -> str:
    centis = round(seconds * 100)
    hours, centis = divmod(centis, 360_000)
    minutes, centis = divmod(centis, 6000)
    secs, centis = divmod(centis, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _ass_text(line: str) -> str:
    # "{…}" opens an override block and "\" an escape in ASS: shown as look-alikes, never obeyed
    return line.replace("\\", "＼").replace("{", "｛").replace("}", "｝")


def ass_document(cues: Sequence[Cue], *, width: int, height: int) -> str:
    """The cues as an ASS script for a ``width``×``height`` video (see the module docstring)."""
    size = font_size(cues, width, height)
    outline = max(1, round(size * 0.08))
    margin = round(height * MARGIN_OF_HEIGHT)
    style = (f"Style: Caption,{FONT_NAME},{size},&H00FFFFFF,&H00FFFFFF,&H00101010,&H80000000,0,0,0,0,100,100,0,0,"
             f"1,{outline},0,2,{round(width * 0.05)},{round(width * 0.05)},{margin},1")
    events = [f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},Caption,,0,0,0,,"
              + r"\N".join(_ass_text(line) for line in cue.lines) for cue in cues]
    return "\n".join([
        "[Script Info]", "ScriptType: v4.00+", f"PlayResX: {width}", f"PlayResY: {height}", "WrapStyle: 0",
        "ScaledBorderAndShadow: yes", "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
        "MarginR, MarginV, Encoding", style, "",
        "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text", *events, "",
    ])


def burn_captions(video: Path, cues: Sequence[Cue], out: Path, *, audio: Path | None = None,
                  audio_bitrate: str = "128k") -> None:
    """``video`` with ``cues`` drawn into its frames, as ``out`` (H.264 yuv420p, faststart): every frame
    kept as it is stored (``-fps_mode passthrough``). The sound is ``audio`` (a WAV, encoded to AAC)
    when given, else ``video``'s own, copied."""
    stream = probe(video).video
    width, height = stream.width, stream.height
    tmp = partial_path(out)
    try:
        with tempfile.TemporaryDirectory(prefix="captions-") as folder:
            fonts = Path(folder) / "fonts"
            fonts.mkdir()
            os.symlink(font_file(), fonts / FONT_FILE)
            (Path(folder) / "captions.ass").write_text(ass_document(cues, width=width, height=height),
                                                      encoding="utf-8")
            sound = (["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", audio_bitrate]
                     if audio is not None else ["-map", "0:v:0", "-map", "0:a:0", "-c:a", "copy"])
            run_ffmpeg(["-i", str(Path(video).resolve()), *sound, "-vf", "ass=captions.ass:fontsdir=fonts",
                        "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", DEFAULT_PRESET,
                        "-crf", str(DEFAULT_CRF), "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                        str(tmp.resolve())], what="drawing the captions into the video", cwd=Path(folder))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
