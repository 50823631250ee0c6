"""The speech stage: a script (TTS) or an upload → speech.wav + speech.json. See ``stage``."""

from .stage import MAX_TEXT_CHARS, SpeechResult, WordTiming, check_text, load_speech, make_speech
from .base import PhonemeTiming, Synthesis, Transcriber, Transcript, Voice, transcribers, voices
from .tts import DEFAULT_VOICE, get_voice, list_voices
from .upload import MAX_AUDIO_SECONDS

__all__ = [
    "DEFAULT_VOICE",
    "MAX_AUDIO_SECONDS",
    "MAX_TEXT_CHARS",
    "PhonemeTiming",
    "SpeechResult",
    "Synthesis",
    "WordTiming",
    "check_text",
    "get_voice",
    "list_voices",
    "load_speech",
    "make_speech",
    "Transcriber",
    "Transcript",
    "Voice",
    "transcribers",
    "voices",
]
