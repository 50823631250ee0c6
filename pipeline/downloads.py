"""Download names: a finished video reaches a person as ``jenniel_profit-logic-beats-market_<job id>.mp4``,
not as the twentieth ``output.mp4`` in their Downloads folder.

``download_name(settings, job)`` is the persona (its id; "avatar" for a render without one), the first
words of what is said (the script; for a recording, the words the captions heard) and the job id,
joined by underscores. Only lower-case ASCII letters, digits and hyphens are kept (accents are
folded, anything else becomes a hyphen), so the name is the same on every file system and in
every browser, and nothing a script says can become a path.

The job folder keeps its documented layout (``output.mp4``, ``output.vtt``, ``output.srt``: what
resume and History rely on). ``named_files`` gives the same files under the download name as hard
links in the job's ``download/`` folder — no second copy of the video on disk — made when a player
first asks and made again when the job's video has been replaced since (a resumed job renders
it anew). A file system without hard links gets copies instead. These are what the studio hands
Gradio, which serves its own cached copy under that name, granted to the owner like any output
(``studio/guard.py``): nothing inside the data folder is served as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

from .captions import CAPTION_FILES, Captions
from .db import Job
from .files import partial_path
from .settings import Settings

DOWNLOAD_DIR = "download"
FIRST_WORDS = 4
MAX_WORDS_CHARS = 40
MAX_PERSONA_CHARS = 24
NO_PERSONA = "avatar"


def slug(text: str, limit: int) -> str:
    """``text`` as lower-case ASCII letters, digits and single hyphens, at most ``limit`` characters
    (cut at a hyphen where one is near enough)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    cleaned = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[:limit + 1].rsplit("-", 1)[0]
    return (cut if len(cut) >= limit // 2 else cleaned[:limit]).strip("-")


def download_name(settings: Settings, job: Job) -> str:
    """``<persona>_<first-words>_<job id>`` (no extension); the words are left out when there are none."""
    said = job.text or _heard(settings, job)
    first = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", said or "")[:FIRST_WORDS]
    words = slug(re.sub("['’]", "", " ".join(first)), MAX_WORDS_CHARS)  # "can't" → "cant", not "can-t"
    persona = slug(job.persona or "", MAX_PERSONA_CHARS) or NO_PERSONA
    return "_".join(part for part in (persona, words, slug(job.id, 40)) if part)


def _heard(settings: Settings, job: Job) -> str:
    """What a recording said, as its captions heard it ("" when there are none)."""
    try:
        return " ".join(word.text for word in Captions.load(settings.job_dir(job.id)).words)
    except (OSError, ValueError, KeyError):
        return ""


def deliverables(job_dir: Path) -> dict[str, Path]:
    """A job's finished files a person takes away: ``{"video", "vtt", "srt"}``, each that exists."""
    found = {"video": job_dir / "output.mp4", **{Path(name).suffix[1:]: job_dir / name for name in CAPTION_FILES}}
    return {kind: path for kind, path in found.items() if path.is_file()}


def named_files(settings: Settings, job: Job) -> dict[str, Path]:
    """The job's video and captions under its download name (see the module docstring): ``{"video",
    "vtt", "srt"}`` for each that exists, as links (or copies) in ``download/`` of its folder."""
    folder = settings.job_dir(job.id)
    name = download_name(settings, job)
    return {kind: linked(source, folder / DOWNLOAD_DIR / f"{name}{source.suffix}")
            for kind, source in deliverables(folder).items()}


def linked(source: Path, target: Path) -> Path:
    """``target`` holding ``source``'s bytes: a hard link, or a copy where links are not possible;
    made again when ``source`` was replaced after it was made."""
    if target.is_file() and (os.path.samefile(source, target) or _same_copy(source, target)):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    try:
        try:
            os.link(source, partial)
        except OSError:  # no hard links here (some network and FUSE file systems)
            shutil.copyfile(source, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _same_copy(source: Path, target: Path) -> bool:
    made, copied = source.stat(), target.stat()
    return made.st_size == copied.st_size and copied.st_mtime_ns >= made.st_mtime_ns
