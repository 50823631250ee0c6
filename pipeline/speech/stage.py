"""The speech stage: a script or an uploaded recording → ``speech.wav`` + ``speech.json``.

``make_speech`` is what the runner calls. It takes exactly one of a script (spoken by a TTS voice)
or an audio file (normalised by ``upload``), and writes into the job folder:

- ``speech.wav``: mono, signed 16-bit PCM — at the voice's own rate for TTS (22050 Hz for the
  bundled voice), 44100 Hz for uploads;
- ``speech.json``: where the speech came from and its timing::

    {"source": "tts" | "upload", "voice": str | null, "sample_rate": int, "duration_s": float,
     "text": str | null,
     "voice_tuning": {"speed": x, "pitch": semitones},            # only when not the default
     "phonemes": [{"phoneme": str, "start": s, "end": s}, ...],   # only when known
     "words": [{"word": str, "start": s, "end": s}, ...]}         # only when known

Word timings are derived from the phoneme timings by ``words.word_timings`` (exact where each
word is one run of phonemes, estimated where espeak joins or expands words); a voice without
phoneme timings gets no word timings.

Script checks run before any synthesis, cheapest first, so a 100 000-character paste is turned
away immediately.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from ..files import partial_path
from .tts import PhonemeTiming, get_voice
from .tuning import DEFAULT, VoiceTuning
from .upload import normalise_upload
from .wav import peak_dbfs, write_wav
from .words import word_timings

MAX_TEXT_CHARS = 5000
SILENT_SPEECH_DBFS = -50.0
SPEECH_WAV = "speech.wav"
SPEECH_JSON = "speech.json"


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class SpeechResult:
    wav_path: Path
    duration_s: float
    sample_rate: int
    source: str  # "tts" | "upload"
    phonemes: tuple[PhonemeTiming, ...] | None = None
    words: tuple[WordTiming, ...] | None = None
    voice: str | None = None
    text: str | None = None
    tuning: VoiceTuning = DEFAULT

    def to_dict(self) -> dict[str, Any]:
        """The content of ``speech.json``."""
        data: dict[str, Any] = {
            "source": self.source,
            "voice": self.voice,
            "sample_rate": self.sample_rate,
            "duration_s": self.duration_s,
            "text": self.text,
        }
        if not self.tuning.is_default:
            data["voice_tuning"] = self.tuning.to_data()
        if self.phonemes is not None:
            data["phonemes"] = [p.to_dict() for p in self.phonemes]
        if self.words is not None:
            data["words"] = [w.to_dict() for w in self.words]
        return data


def make_speech(
    *, text: str | None, audio_path: str | Path | None, out_dir: Path, voice: str | None = None,
    display_name: str | None = None, settings=None, tuning: VoiceTuning | None = None,
) -> SpeechResult:
    """Write ``speech.wav`` and ``speech.json`` into ``out_dir`` from a script or an audio file.
    ``settings``: where the creator's voice files are (``get_voice``); ``tuning``: the voice's speed
    and pitch (a recording is used as it is)."""
    has_audio = audio_path is not None and str(audio_path).strip() != ""
    if has_audio and text is not None and text.strip():
        raise BadInput("Give either a script or an audio file, not both.")
    if not has_audio and text is None:
        raise BadInput("Nothing to say — type a script or upload an audio file.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = (_from_upload(audio_path, out_dir, display_name) if has_audio
              else _from_script(text or "", out_dir, voice, settings, tuning or DEFAULT))
    # speech.json is written last and atomically: its presence means the stage finished.
    partial = partial_path(out_dir / SPEECH_JSON)
    partial.write_text(_dump_json(result.to_dict()), encoding="utf-8")
    os.replace(partial, out_dir / SPEECH_JSON)
    return result


def load_speech(out_dir: Path) -> SpeechResult:
    """The ``SpeechResult`` a previous ``make_speech`` left in ``out_dir`` (for resuming a job)."""
    out_dir = Path(out_dir)
    data = json.loads((out_dir / SPEECH_JSON).read_text(encoding="utf-8"))
    phonemes = data.get("phonemes")
    words = data.get("words")
    return SpeechResult(
        wav_path=out_dir / SPEECH_WAV,
        duration_s=float(data["duration_s"]),
        sample_rate=int(data["sample_rate"]),
        source=data["source"],
        phonemes=None if phonemes is None else tuple(PhonemeTiming(**p) for p in phonemes),
        words=None if words is None else tuple(WordTiming(**w) for w in words),
        voice=data.get("voice"),
        text=data.get("text"),
        tuning=VoiceTuning.from_data(data.get("voice_tuning")),
    )


def _dump_json(data: dict[str, Any]) -> str:
    """JSON with one key per line and one phoneme/word per line: readable, yet not 20 000 lines."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in value)
            lines.append(f" {json.dumps(key)}: [\n  {items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# C0 control characters by their standard abbreviations, to name the one found in a script.
_C0_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM "
             "SUB ESC FS GS RS US").split()
_ALLOWED_CONTROLS = "\t\n\r"


def check_text(text: str) -> str:
    """The script, stripped, or a ``BadInput`` saying why it cannot be spoken."""
    _refuse_control_characters(text)
    script = text.strip()
    if not script:
        raise BadInput("The script is empty — type something for the avatar to say.")
    if len(script) > MAX_TEXT_CHARS:
        raise BadInput(
            f"The script is {len(script):,} characters long; the limit is {MAX_TEXT_CHARS:,} — "
            "shorten it or split it into several videos."
        )
    if not any(ch.isalnum() for ch in script):
        raise BadInput("The script has nothing to speak — it needs at least one word, not only punctuation or emoji.")
    return script


def _refuse_control_characters(text: str) -> None:
    """Control characters (NUL, escape codes, a form feed pasted from a document) other than tab and
    line breaks are refused, not stripped: they are never meant to be spoken, espeak cannot take a
    NUL at all, and saying where one is lets the person see what else came along with the paste."""
    for index, ch in enumerate(text):
        code = ord(ch)
        if (code < 0x20 and ch not in _ALLOWED_CONTROLS) or code == 0x7F:
            name = _C0_NAMES[code] if code < 0x20 else "DEL"
            raise BadInput(f"The script contains a control character ({name}, U+{code:04X}) at character "
                           f"{index + 1} — remove it; only tabs and line breaks may be in a script.")


def _from_script(text: str, out_dir: Path, voice_name: str | None, settings, tuning: VoiceTuning) -> SpeechResult:
    script = check_text(text)
    backend = get_voice(voice_name, settings, tuning)
    spoken = speakable(script)
    synthesis = backend.synthesize(spoken)
    if len(synthesis.samples) == 0 or peak_dbfs(synthesis.samples) < SILENT_SPEECH_DBFS:
        raise BadInput("The voice produced only silence for this script — try writing it out in plain words.")
    wav_path = write_wav(out_dir / SPEECH_WAV, synthesis.samples, synthesis.sample_rate)
    return SpeechResult(
        wav_path=wav_path,
        duration_s=round(len(synthesis.samples) / synthesis.sample_rate, 5),
        sample_rate=synthesis.sample_rate,
        source="tts",
        phonemes=synthesis.phonemes,
        words=_words(script, synthesis.phonemes),
        voice=backend.name,
        text=script,
        tuning=tuning,
    )


def speakable(script: str) -> str:
    # espeak reads emoji and symbols aloud by name ("party popper"); an avatar should not.
    text = "".join(" " if unicodedata.category(ch) == "So" else ch for ch in script)
    # Piper reads [[ ... ]] as raw phonemes; a script is plain text, so break such brackets up.
    return text.replace("[[", "[ [").replace("]]", "] ]")


def _words(script: str, phonemes: tuple[PhonemeTiming, ...] | None) -> tuple[WordTiming, ...] | None:
    timings = None if phonemes is None else word_timings(script, phonemes)
    return None if timings is None else tuple(WordTiming(*timing) for timing in timings)


def _from_upload(audio_path: str | Path, out_dir: Path, display_name: str | None = None) -> SpeechResult:
    wav_path = out_dir / SPEECH_WAV
    rate, duration = normalise_upload(audio_path, wav_path, display_name=display_name)
    return SpeechResult(wav_path=wav_path, duration_s=round(duration, 5), sample_rate=rate, source="upload")
