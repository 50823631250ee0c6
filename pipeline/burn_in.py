"""Captions drawn into the video's frames ("burned in"), for places that show no caption track.

The bundled ffmpeg (imageio-ffmpeg's static build) has libass, so the captions are drawn by its
``ass`` filter in the same pass that encodes the video (``compose.compose_video``) — no frame goes
through Python, and the cost is one libx264 encode, which packaging with burned captions needs
anyway. We write the ASS document ourselves from the cues (``ass_document``) rather than hand
ffmpeg the SRT: the cue's lines stay the lines the captions stage chose, and the style is sized to
this video — and kept inside a format's safe area (``formats.py``) when the video is framed.

The font is DejaVu Sans from matplotlib's package data (matplotlib is a dependency of the studio),
given to libass as the only font in a folder of its own (``fontsdir``): what is drawn never
depends on the fonts a machine happens to have, and a Space without any still gets text. The
size is measured with Pillow's FreeType on the same font file: the widest line of all the cues
fits 90% of the frame's width, and the font's em is at most ``MAX_SIZE_OF_HEIGHT`` of the frame's
height; white with a dark outline, centred near the bottom, where a viewer's eye expects captions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from .captions import Cue
from .errors import BackendUnavailable

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


def font_size(cues: Sequence[Cue], width: float, height: int) -> int:
    """The ASS font size (libass sizes a font by its ascent plus descent, not its em) at which the widest
    line of ``cues`` fits ``WIDTH_USED`` of ``width`` (the frame's, or its safe area's), capped at
    ``MAX_SIZE_OF_HEIGHT`` of ``height``."""
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


def ass_document(cues: Sequence[Cue], *, width: int, height: int,
                 safe: tuple[int, int, int, int] | None = None) -> str:
    """The cues as an ASS script for a ``width``×``height`` video (see the module docstring), inside
    ``safe`` (left, top, right, bottom in pixels) when given: a framed format's safe area."""
    left, right = (safe[0], safe[2]) if safe else (round(width * 0.05), width - round(width * 0.05))
    bottom = safe[3] if safe else height - round(height * MARGIN_OF_HEIGHT)
    size = font_size(cues, (right - left) / WIDTH_USED * 0.95 if safe else width, height)
    outline = max(1, round(size * 0.08))
    style = (f"Style: Caption,{FONT_NAME},{size},&H00FFFFFF,&H00FFFFFF,&H00101010,&H80000000,0,0,0,0,100,100,0,0,"
             f"1,{outline},0,2,{left},{width - right},{height - bottom},1")
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
