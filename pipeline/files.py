"""Small file helpers shared by the runner, the stages, the hosted renderers and the preview cache.

Unfinished files have names of their own per attempt (``partial_path``): ``render.mp4`` is written
as ``render.partial-<pid>-<token>.mp4`` and renamed into place once complete, so two processes —
a resumed job and an encoder its killed predecessor left running — never write the same file, and
a name without ``.partial-`` is never half-written. ``partial_owner`` reads the pid back out of
such a name, so leftovers of a dead process can be told from files a live one is still writing.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

_PARTIAL = re.compile(r"\.partial-(\d+)-[0-9a-f]+")
PARTIAL_MARK = ".partial"  # in every unfinished file's name; older versions wrote "<name>.partial"


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partial_path(target: Path | str) -> Path:
    """A name, beside ``target``, that only this attempt writes: the process id and a random token
    between the stem and the suffix (``output.partial-4242-9f1c2e07.mp4``), so ffmpeg still sees the
    container from the suffix. Write there, then ``replace`` it onto ``target``."""
    target = Path(target)
    return target.with_name(f"{target.stem}{PARTIAL_MARK}-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")


def partial_owner(name: str) -> int | None:
    """The process id in a ``partial_path`` name, or None (not one, or an older ``.partial`` name)."""
    match = _PARTIAL.search(name)
    return int(match.group(1)) if match else None
