"""Hosted voices: an OpenAI-compatible ``/v1/audio/speech`` and ElevenLabs' text-to-speech.

**Names.** ``openai-tts`` and ``elevenlabs`` speak with the vendor voice the settings name
(``OPENAI_TTS_VOICE``, default ``alloy``; ``ELEVENLABS_VOICE_ID``, default one of ElevenLabs'
premade voices); ``openai-tts:nova`` or ``elevenlabs:<voice id>`` picks another of the vendor's
voices (``Voice.vendor_voices``), so each persona can have its own.

**Where and with what key.** Plain httpx (the ``httpx.Client`` is injected by tests, else made
here); base URLs are settings (``OPENAI_TTS_BASE_URL``, default OpenAI's own, which any
compatible server — Kokoro-FastAPI, openedai-speech, LocalAI — can replace; ``ELEVENLABS_BASE_URL``),
so the tests' loopback fakes and self-hosted servers need no code change. Keys come from the
environment only (``OPENAI_API_KEY``, needed for OpenAI's host and sent as a Bearer token when set;
``ELEVENLABS_API_KEY`` as ``xi-api-key``); without one the voice is listed unavailable saying which
variable to set.

**Failures** read as every hosted service's do (``pipeline.remote``): 401/403 → ``AuthFailed``
naming the key's variable, 429 → ``RateLimited`` (retried, its Retry-After honoured), 5xx, a
dropped connection or a timeout retried with backoff and then one message; the vendor's own words
are quoted with any key redacted. ``AVATAR_STUDIO_TTS_TIMEOUT`` (seconds per request, default 60)
and ``AVATAR_STUDIO_TTS_RETRIES`` (extra attempts, default 2) tune it. In a render the message is
the job's error, recorded at its speech stage.

**What comes back.** An OpenAI-compatible server is asked for WAV, which says its own rate and
width; ElevenLabs for raw 16-bit PCM at 24 kHz (``output_format=pcm_24000``). Neither says when
each phoneme was spoken, so the synthesis has no phoneme timings (``phonemes=None``): the embedded
renderer then shapes the mouth from the loudness, and ``speech.json`` has no phonemes or words.

**Speed and pitch** use the same method as Piper (``tuning.py``): the vendor's own speed parameter
is asked for ``speed / r`` (speech ``r`` times longer than wanted) and the audio is resampled ``r``
times shorter, ``r`` the pitch ratio.
OpenAI takes 0.25–4 (every tuning fits); ElevenLabs 0.7–1.2, and a tuning beyond that is refused in
words rather than silently changed.
"""

from __future__ import annotations

import copy
import io
import wave
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import numpy as np

from ..errors import BackendUnavailable, RemoteError
from ..remote import RetryPolicy, error_for_status, malformed, parse_retry_after, transport_error, vendor_message
from ..settings import float_setting, int_setting
from .base import Synthesis, Voice, VoiceInfo
from .tuning import VoiceTuning, resample

OPENAI_KEY, ELEVENLABS_KEY = "OPENAI_API_KEY", "ELEVENLABS_API_KEY"
OPENAI_HOST = "https://api.openai.com/v1"
ELEVENLABS_HOST = "https://api.elevenlabs.io"
ELEVENLABS_RATE = 24_000  # pcm_24000: offered on every ElevenLabs plan (44.1 kHz PCM is not)


@dataclass(frozen=True)
class HostedSpeechSettings:
    """The hosted voices' own settings section, from ``Settings.env``; see the module docstring."""

    openai_base_url: str = OPENAI_HOST  # OPENAI_TTS_BASE_URL (the LLM's OPENAI_BASE_URL is another server)
    openai_model: str = "gpt-4o-mini-tts"  # OPENAI_TTS_MODEL
    openai_voice: str = "alloy"  # OPENAI_TTS_VOICE
    elevenlabs_base_url: str = ELEVENLABS_HOST  # ELEVENLABS_BASE_URL
    elevenlabs_model: str = "eleven_multilingual_v2"  # ELEVENLABS_MODEL
    elevenlabs_voice: str = "21m00Tcm4TlvDq8gAcAm"  # ELEVENLABS_VOICE_ID: "Rachel", a premade voice
    timeout_s: float = 60.0  # AVATAR_STUDIO_TTS_TIMEOUT
    retries: int = 2  # AVATAR_STUDIO_TTS_RETRIES

    @classmethod
    def of(cls, settings) -> HostedSpeechSettings:
        env, default = settings.env, cls()

        def text(name: str, fallback: str) -> str:
            return (env.get(name) or "").strip() or fallback

        return cls(openai_base_url=text("OPENAI_TTS_BASE_URL", default.openai_base_url).rstrip("/"),
                   openai_model=text("OPENAI_TTS_MODEL", default.openai_model),
                   openai_voice=text("OPENAI_TTS_VOICE", default.openai_voice),
                   elevenlabs_base_url=text("ELEVENLABS_BASE_URL", default.elevenlabs_base_url).rstrip("/"),
                   elevenlabs_model=text("ELEVENLABS_MODEL", default.elevenlabs_model),
                   elevenlabs_voice=text("ELEVENLABS_VOICE_ID", default.elevenlabs_voice),
                   timeout_s=float_setting(env, "AVATAR_STUDIO_TTS_TIMEOUT", default.timeout_s, 1.0, 600.0),
                   retries=int_setting(env, "AVATAR_STUDIO_TTS_RETRIES", default.retries, 0, 10))


class HostedVoice(Voice):
    """What the two hosted voices share: the key (kept out of ``repr``), the request with its
    retries and error mapping, the tuning, the synthesis without timings."""

    vendor_voices = True
    key_variable: ClassVar[str]
    speed_range: ClassVar[tuple[float, float]]  # the vendor's own speed parameter

    def __init__(self, *, vendor_voice: str, base_url: str, model: str, api_key: str | None, timeout_s: float,
                 retry: RetryPolicy, client: httpx.Client | None = None, name: str | None = None) -> None:
        self.name = name or type(self).name
        self.vendor_voice = vendor_voice
        self.base_url = base_url.rstrip("/")
        self.service = self.service_at(self.base_url)  # how messages name the server
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry
        self._api_key = api_key
        self._client = client or httpx.Client()

    def __repr__(self) -> str:  # the key stays out
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, voice={self.vendor_voice!r})"

    def tuned(self, tuning: VoiceTuning) -> HostedVoice:
        if tuning == self.tuning:
            return self
        asked = tuning.speed / tuning.pitch_ratio
        low, high = self.speed_range
        if not low <= asked <= high:
            raise BackendUnavailable(
                f"{self.service} speaks at {low:g}–{high:g} × its pace; speed {tuning.speed:g} with pitch "
                f"{tuning.pitch:+g} needs {asked:.2f} — bring them closer to 1 and 0 for this voice")
        voice = copy.copy(self)
        voice.tuning = tuning
        return voice

    def synthesize(self, text: str) -> Synthesis:
        ratio = self.tuning.pitch_ratio
        speed = self.tuning.speed / ratio  # r times longer than wanted: the resample below shortens it by r

        def attempt() -> tuple[np.ndarray, int]:
            try:
                response = self._post(text, speed)
            except httpx.HTTPError as error:
                mapped = transport_error(self.service, error, timeout_s=self.timeout_s,
                                         timeout_hint="try again, or raise AVATAR_STUDIO_TTS_TIMEOUT",
                                         secrets=[self._api_key])
                if mapped is None:
                    raise
                raise mapped from None
            if response.status_code >= 400:
                raise error_for_status(self.service, response.status_code, vendor_message(response.content),
                                       retry_after=parse_retry_after(response.headers.get("retry-after")),
                                       key_variable=self.key_variable, secrets=[self._api_key])
            return self._decode(response)

        samples, rate = self.retry.call(attempt, what=f"Speech from {self.service}")
        if ratio != 1.0:
            samples = resample(samples, max(1, round(len(samples) / ratio)))
        return Synthesis(samples, rate, None)  # no phoneme timings: the renderer follows the loudness

    @classmethod
    @abstractmethod
    def service_at(cls, base_url: str) -> str:
        """The service as messages name it."""

    @abstractmethod
    def _post(self, text: str, speed: float) -> httpx.Response:
        """The vendor's request for ``text`` at the vendor's ``speed``."""

    @abstractmethod
    def _decode(self, response: httpx.Response) -> tuple[np.ndarray, int]:
        """(float32 mono samples, sample rate) from a successful answer; ``RemoteError`` when it is not audio."""

    @classmethod
    def _configured(cls, settings, vendor_voice: str | None, client: httpx.Client | None, *, default_voice: str,
                    base_url: str, model: str, api_key: str | None) -> HostedVoice:
        """The voice as a vendor's section of the settings configures it: the timeout and retries every
        hosted voice shares, and ``NAME:VOICE`` naming a vendor voice other than the default."""
        section = HostedSpeechSettings.of(settings)
        return cls(vendor_voice=vendor_voice or default_voice, base_url=base_url, model=model, api_key=api_key,
                   timeout_s=section.timeout_s, retry=RetryPolicy(retries=section.retries), client=client,
                   name=f"{cls.name}:{vendor_voice}" if vendor_voice else None)


class OpenAISpeech(HostedVoice):
    """``POST {base}/audio/speech`` on OpenAI or any server that speaks its API."""

    name = "openai-tts"
    label = "OpenAI-compatible speech"
    key_variable = OPENAI_KEY
    speed_range = (0.25, 4.0)

    @classmethod
    def service_at(cls, base_url: str) -> str:  # "OpenAI" for the real thing, else the server's address
        where = urlsplit(base_url).netloc or base_url
        return "OpenAI" if base_url == OPENAI_HOST else f"OpenAI-compatible speech server at {where}"

    @classmethod
    def unavailable(cls, settings) -> str | None:
        if HostedSpeechSettings.of(settings).openai_base_url == OPENAI_HOST and not settings.keys.get(OPENAI_KEY):
            return (f"{OPENAI_KEY} is not set — put it in the environment or in a .env file (or set "
                    "OPENAI_TTS_BASE_URL to a self-hosted OpenAI-compatible speech server)")
        return None

    @classmethod
    def from_settings(cls, settings, vendor_voice: str | None = None, client: httpx.Client | None = None,
                      ) -> OpenAISpeech:
        reason = cls.unavailable(settings)
        if reason:
            raise BackendUnavailable(reason)
        section = HostedSpeechSettings.of(settings)
        return cls._configured(settings, vendor_voice, client, default_voice=section.openai_voice,
                               base_url=section.openai_base_url, model=section.openai_model,
                               api_key=settings.keys.get(OPENAI_KEY) or None)

    @classmethod
    def describe(cls, settings) -> VoiceInfo:
        section = HostedSpeechSettings.of(settings)
        return VoiceInfo(name=cls.name, source=f"hosted: {section.openai_base_url}/audio/speech, voice "
                                               f"{section.openai_voice!r} ({cls.name}:VOICE picks another)")

    def _post(self, text: str, speed: float) -> httpx.Response:
        payload: dict[str, Any] = {"model": self.model, "input": text, "voice": self.vendor_voice,
                                   "response_format": "wav"}
        if speed != 1.0:
            payload["speed"] = round(speed, 4)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return self._client.post(f"{self.base_url}/audio/speech", json=payload, headers=headers,
                                 timeout=self.timeout_s)

    def _decode(self, response: httpx.Response) -> tuple[np.ndarray, int]:
        try:
            with wave.open(io.BytesIO(response.content), "rb") as wav:
                channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
                raw = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as error:
            raise malformed(self.service, f"asked for WAV, got {response.headers.get('content-type') or 'no type'} "
                                          f"that is not one: {error}", secrets=[self._api_key]) from None
        if width != 2:
            raise malformed(self.service, f"asked for 16-bit WAV, got {8 * width}-bit")
        return _pcm16(raw, channels, self.service), rate


class ElevenLabsSpeech(HostedVoice):
    """``POST {base}/v1/text-to-speech/{voice_id}`` on ElevenLabs."""

    name = "elevenlabs"
    label = "ElevenLabs"
    key_variable = ELEVENLABS_KEY
    speed_range = (0.7, 1.2)

    @classmethod
    def service_at(cls, base_url: str) -> str:
        return "ElevenLabs"

    @classmethod
    def unavailable(cls, settings) -> str | None:
        return settings.missing_key(ELEVENLABS_KEY)

    @classmethod
    def from_settings(cls, settings, vendor_voice: str | None = None, client: httpx.Client | None = None,
                      ) -> ElevenLabsSpeech:
        section = HostedSpeechSettings.of(settings)
        return cls._configured(settings, vendor_voice, client, default_voice=section.elevenlabs_voice,
                               base_url=section.elevenlabs_base_url, model=section.elevenlabs_model,
                               api_key=settings.key(ELEVENLABS_KEY))

    @classmethod
    def describe(cls, settings) -> VoiceInfo:
        section = HostedSpeechSettings.of(settings)
        return VoiceInfo(name=cls.name, sample_rate=ELEVENLABS_RATE,
                         source=f"hosted: ElevenLabs ({section.elevenlabs_base_url}), voice "
                                f"{section.elevenlabs_voice!r} ({cls.name}:VOICE_ID picks another)")

    def _post(self, text: str, speed: float) -> httpx.Response:
        payload: dict[str, Any] = {"text": text, "model_id": self.model}
        if speed != 1.0:
            payload["voice_settings"] = {"speed": round(speed, 4)}
        return self._client.post(f"{self.base_url}/v1/text-to-speech/{self.vendor_voice}",
                                 params={"output_format": f"pcm_{ELEVENLABS_RATE}"}, json=payload,
                                 headers={"xi-api-key": self._api_key or ""}, timeout=self.timeout_s)

    def _decode(self, response: httpx.Response) -> tuple[np.ndarray, int]:
        kind = (response.headers.get("content-type") or "").split(";")[0].strip()
        if kind in ("application/json", "text/html", "text/plain"):  # an error page with a 200, or a proxy's
            raise malformed(self.service, f"asked for PCM audio, got {kind}: {vendor_message(response.content)}",
                            secrets=[self._api_key])
        return _pcm16(response.content, 1, self.service), ELEVENLABS_RATE


def _pcm16(raw: bytes, channels: int, service: str) -> np.ndarray:
    """Little-endian 16-bit samples as float32 mono in [-1, 1]; no audio at all is a malformed answer."""
    samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    if samples.size == 0:
        raise RemoteError(f"{service} answered without any audio — try again, or another voice")
    return samples
