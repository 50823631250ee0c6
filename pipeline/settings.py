"""The one settings resolver.

Everything that depends on the environment is read here, once, into a frozen ``Settings``: where
data lives (``AVATAR_STUDIO_HOME``, default ``data/`` beside ``app.py``), which backends are the
defaults, and API keys. Values come from the process environment first, then from a ``.env`` file
in the working directory or the project root (never overriding the environment). Keys are kept
out of ``repr`` so they cannot leak into logs or error messages by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from .errors import BadInput, MissingKey

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = PROJECT_ROOT / "data"
MAX_SIDE_RANGE = (256, 1080)  # long side of the working image and video, px
DEFAULT_MAX_SIDE = 512

# Environment variables that hold secrets; later backends add theirs here.
KEY_VARIABLES = (
    "MISTRAL_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "HEYGEN_API_KEY", "DID_API_KEY",
)


@dataclass(frozen=True)
class Settings:
    home: Path = DEFAULT_HOME
    renderer: str = "embedded"
    voice: str | None = None
    max_side: int = DEFAULT_MAX_SIDE
    fps: int = 25
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def db_path(self) -> Path:
        return self.home / "studio.db"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def key(self, variable: str) -> str:
        """An API key by its variable name; ``MissingKey`` naming the variable when unset."""
        value = self.keys.get(variable, "")
        if not value:
            raise MissingKey(f"{variable} is not set — put it in the environment or in a .env file")
        return value

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def _dotenv_values(paths: list[Path]) -> dict[str, str]:
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    for path in paths:
        if path.is_file():
            for name, value in dotenv_values(path).items():
                if value is not None:
                    values.setdefault(name, value)
    return values


def resolve(environ: Mapping[str, str] | None = None, *, dotenv: bool = True, **overrides) -> Settings:
    """Settings from the environment (and ``.env``), with explicit overrides on top."""
    env = dict(os.environ if environ is None else environ)
    if dotenv:
        for name, value in _dotenv_values([Path.cwd() / ".env", PROJECT_ROOT / ".env"]).items():
            env.setdefault(name, value)
    home = Path(env.get("AVATAR_STUDIO_HOME") or DEFAULT_HOME).expanduser()
    max_side = _int_setting(env, "AVATAR_STUDIO_MAX_SIDE", DEFAULT_MAX_SIDE, *MAX_SIDE_RANGE)
    settings = Settings(
        home=home.resolve(),
        renderer=env.get("AVATAR_STUDIO_RENDERER", "embedded") or "embedded",
        voice=env.get("AVATAR_STUDIO_VOICE") or None,
        max_side=max_side,
        keys={name: env[name] for name in KEY_VARIABLES if env.get(name)},
    )
    return replace(settings, **overrides) if overrides else settings


def _int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}, got {value}")
    return value
