"""Speech-to-text: Piper speaks, Whisper listens.

Sentences are synthesised by the bundled Piper voice and transcribed by the bundled tiny.en
faster-whisper model, and the word error rate of the result is checked, so these tests fail if
either the audio path (decoding, resampling to 16 kHz) or the recognition is broken. Microphone
recordings arrive as webm/opus or ogg, uploads as mp3 or wav: each format is made from the same
speech with ffmpeg and must transcribe too.

openai-whisper cannot download real weights here, so its test builds a tiny Whisper with random
weights, saves it as a checkpoint and loads that through the backend: it proves the whole path
(checkpoint loading, audio, decoding, the Transcript) but its text is gibberish by construction.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import numpy as np
import pytest
from audio_fixtures import convert, spoken, write_wav
from conftest import ROOT

from pipeline.errors import BackendUnavailable, BadInput, UnknownBackend
from pipeline.speech.stt import (
    FasterWhisperSTT,
    OpenAIWhisperSTT,
    Transcript,
    WhisperBackend,
    bundled_model_path,
    transcribe_file,
)

SENTENCES = {
    "fox": "The quick brown fox jumps over the lazy dog near the river bank.",
    "sister": "Please remind me to call my sister at 7 tomorrow evening.",
    "studio": "Our studio turns a single portrait into a talking avatar in a few seconds.",
}
MAX_WER = 0.2

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number_words(number: int) -> str:
    """0–999 in words ("seven", "twenty one", "three hundred five"): enough for spoken sentences."""
    if number < 20:
        return _ONES[number]
    if number < 100:
        return _TENS[number // 10] + ("" if number % 10 == 0 else " " + _ONES[number % 10])
    rest = number % 100
    return _ONES[number // 100] + " hundred" + ("" if rest == 0 else " " + _number_words(rest))


def normalise(text: str) -> list[str]:
    """Words for comparison: lower case, numbers as words, no punctuation ("I'll" → "ill")."""
    text = re.sub(r"\d+", lambda m: f" {_number_words(int(m.group()))} " if int(m.group()) < 1000 else m.group(),
                  text.lower())
    text = re.sub(r"[-–—]", " ", text)
    return re.sub(r"[^\w\s]", "", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by word-level edit distance."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, heard in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != heard)))
        previous = current
    return previous[-1] / max(1, len(ref))


def test_word_error_rate_counts_edits_after_normalising():
    assert word_error_rate("Call me at 7, OK?", "call me at seven ok") == 0
    assert word_error_rate("the red car", "the car") == pytest.approx(1 / 3)  # one deletion
    assert word_error_rate("the red car", "a red big car") == pytest.approx(2 / 3)  # substitution + insertion
    assert normalise("Twenty-one 21 I'll") == ["twenty", "one", "twenty", "one", "ill"]


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> dict:
    """Each sentence spoken by Piper, as a WAV file at Piper's own rate."""
    folder = tmp_path_factory.mktemp("speech")
    return {key: write_wav(folder / f"{key}.wav", *spoken(text)) for key, text in SENTENCES.items()}


@pytest.fixture(scope="session")
def faster_whisper() -> FasterWhisperSTT:
    backend = FasterWhisperSTT()
    backend.load()
    return backend


@pytest.mark.parametrize("key", SENTENCES)
def test_piper_speech_transcribes_back(faster_whisper, speech, key):
    steps = []
    transcript = faster_whisper.transcribe(speech[key], progress=lambda fraction, message: steps.append(fraction))
    wer = word_error_rate(SENTENCES[key], transcript.text)
    assert wer <= MAX_WER, f"WER {wer:.2f}: {transcript.text!r}"
    samples, rate = spoken(SENTENCES[key])
    assert transcript.duration_s == pytest.approx(len(samples) / rate, abs=0.05)
    assert (transcript.backend, transcript.model, transcript.language) == ("faster-whisper", "tiny.en", "en")
    starts = [segment["start"] for segment in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1]["end"] <= transcript.duration_s + 0.05
    assert " ".join(segment["text"] for segment in transcript.segments) == transcript.text
    # three 0.0 steps (load, read, start), one per segment at its end time, then 1.0
    assert steps == sorted(steps) and len(steps) == 4 + len(transcript.segments) and steps[-1] == 1.0
    assert steps[-2] == pytest.approx(min(1.0, transcript.segments[-1]["end"] / transcript.duration_s), abs=0.01)
    assert transcript.elapsed_s > 0
    assert Transcript(**transcript.to_dict()) == transcript


@pytest.mark.parametrize("fmt", ["webm", "ogg", "mp3", "wav"])
def test_microphone_and_upload_formats_transcribe(faster_whisper, speech, tmp_path, fmt):
    recording = convert(speech["studio"], tmp_path / f"recording.{fmt}")
    transcript = faster_whisper.transcribe(recording)
    assert word_error_rate(SENTENCES["studio"], transcript.text) <= MAX_WER, transcript.text


def test_word_timestamps_are_the_words_in_order_inside_the_audio(faster_whisper, speech):
    """What a recording's captions are timed by: each word once, in order, inside the audio, the
    words together the transcript."""
    plain = faster_whisper.transcribe(speech["fox"])
    assert plain.words == [] and all("words" not in segment for segment in plain.segments)
    transcript = faster_whisper.transcribe(speech["fox"], word_timestamps=True)
    words = transcript.words
    assert word_error_rate(SENTENCES["fox"], "".join(w["word"] for w in words)) <= MAX_WER
    assert "".join(w["word"] for w in words).strip() == transcript.text
    assert all(0 <= w["start"] <= w["end"] <= transcript.duration_s for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    # "river" is said in the last third of the sentence: its time says so
    river = next(w for w in words if "river" in w["word"].lower())
    assert river["start"] > transcript.duration_s * 0.55


@pytest.mark.parametrize("key", SENTENCES)
def test_a_live_question_in_memory_transcribes_as_the_file_does(faster_whisper, key):
    """``transcribe_speech``: a microphone's int16 samples at 48 kHz (what a hands-free turn holds),
    resampled in memory and decoded greedily, give the words; so do float samples at Piper's rate."""
    samples, rate = spoken(SENTENCES[key])
    at_48k = np.interp(np.arange(len(samples) * 48_000 // rate) * rate / 48_000, np.arange(len(samples)), samples)
    microphone = (np.clip(at_48k, -1, 1) * 32767).astype(np.int16)
    for audio, audio_rate in ((microphone, 48_000), (samples, rate)):
        transcript = faster_whisper.transcribe_speech(audio, audio_rate)
        wer = word_error_rate(SENTENCES[key], transcript.text)
        assert wer <= MAX_WER, f"WER {wer:.2f}: {transcript.text!r}"
        assert transcript.duration_s == pytest.approx(len(audio) / audio_rate, abs=0.01)
        assert transcript.language == "en" and transcript.segments[-1]["end"] <= transcript.duration_s
    assert faster_whisper.transcribe_speech(np.zeros(48_000, np.int16), 48_000).text == ""


def test_a_window_too_tight_makes_whisper_loop_and_the_question_is_read_again_whole(tmp_path):
    """The short window's guard, on the real model: tiny.en given only half a second of quiet after
    the speech repeats the question until its token budget runs out. That reading is refused
    (``_read_short`` is None) and the question is read in the full window, so the words still come."""
    backend = FasterWhisperSTT()
    model = backend.load()
    looped = []
    for key, text in SENTENCES.items():
        samples, rate = spoken(text)
        audio = np.interp(np.arange(len(samples) * 16_000 // rate) * rate / 16_000, np.arange(len(samples)),
                          samples).astype(np.float32)
        duration = len(audio) / 16_000
        backend.live_window_s, backend.live_margin_s = duration + 0.5, 0.0
        if backend._read_short(model, audio, duration, "en") is None:
            looped.append(key)
        assert word_error_rate(text, backend.transcribe_speech(audio, 16_000).text) <= MAX_WER
    assert looped, "no question looped in a tight window: the guard was not exercised"
    # the shared model still reads files in its own 30 s windows afterwards
    assert (model.feature_extractor.n_samples, model.feature_extractor.nb_max_frames) == (480_000, 3000)
    assert word_error_rate(SENTENCES["fox"], FasterWhisperSTT().transcribe(write_wav(
        tmp_path / "fox.wav", *spoken(SENTENCES["fox"]))).text) <= MAX_WER


def test_the_base_transcriber_hears_samples_through_its_own_file_path(speech):
    """A backend that only reads files still takes a live question: the base class hands it a WAV of
    the samples."""
    from pipeline.speech.base import Transcriber
    from pipeline.speech.wav import read_wav

    class FilesOnly(Transcriber):
        name = "files-only"

        @classmethod
        def from_settings(cls, settings, model=None):
            return cls()

        def transcribe(self, audio_path, *, language=None, progress=None, display_name=None, word_timestamps=False):
            samples, rate = read_wav(audio_path)
            return Transcript(text=f"{len(samples)} at {rate}", language=language or "", duration_s=len(samples) / rate,
                              segments=[], backend=self.name, model="", elapsed_s=0.0)

    ramp = (np.arange(-16_000, 16_000, 2) % 30_000).astype(np.int16)
    heard = FilesOnly().transcribe_speech(ramp, 22_050, language="en")
    assert (heard.text, heard.language) == (f"{len(ramp)} at 22050", "en")


def test_transcribe_file_uses_the_configured_backend_and_model(settings, speech):
    folder = str(bundled_model_path())  # the same model given as a folder, as a user would configure one
    transcript = transcribe_file(settings.with_(stt_model=folder), speech["fox"])
    assert (transcript.backend, transcript.model) == ("faster-whisper", folder)
    assert word_error_rate(SENTENCES["fox"], transcript.text) <= MAX_WER
    with pytest.raises(UnknownBackend, match="stt 'vosk' not found; known: faster-whisper, openai-whisper"):
        transcribe_file(settings, speech["fox"], backend="vosk")
    # a model set for one backend is not handed to the other
    assert OpenAIWhisperSTT.from_settings(settings.with_(stt_model=folder)).model == "base.en"
    assert FasterWhisperSTT.from_settings(settings.with_(stt_model=folder), "small").model == "small"


def test_bad_audio_gives_the_upload_messages(faster_whisper, tmp_path):
    with pytest.raises(BadInput, match=r"The audio file 'memo\.webm' was not found — upload it again\."):
        faster_whisper.transcribe(tmp_path / "gone.webm", display_name="memo.webm")
    garbage = tmp_path / "voice.webm"
    garbage.write_bytes(b"\x1a\x45\xdf\xa3 this is not really a recording " * 40)
    with pytest.raises(BadInput, match=r"could not read the audio file 'voice\.webm': it is not a supported audio"):
        faster_whisper.transcribe(garbage)


def test_silence_and_faint_hiss_are_no_words(faster_whisper, tmp_path):
    """Nothing said is "" (the studio then asks the person to try again): not the render's "nothing
    to animate" error, and not a word Whisper makes up in the quiet (without its voice filter it
    hears "You" in pure silence)."""
    rng = np.random.default_rng(0)
    recordings = {
        "silent.wav": (np.zeros(3 * 16000), 16000),
        "hiss.wav": (rng.normal(0.0, 0.001, 3 * 44100), 44100),  # about -60 dBFS, peaks near -48
    }
    for name, (samples, rate) in recordings.items():
        transcript = faster_whisper.transcribe(write_wav(tmp_path / name, samples, rate))
        assert (transcript.text, transcript.segments, transcript.duration_s) == ("", [], 3.0), name


def test_english_only_model_refuses_other_languages(faster_whisper, speech):
    with pytest.raises(BadInput, match="understands English only, not 'fr' — set AVATAR_STUDIO_STT_MODEL"):
        faster_whisper.transcribe(speech["fox"], language="fr")
    assert faster_whisper.transcribe(speech["fox"], language="EN").language == "en"


def test_missing_models_say_what_to_set(tmp_path):
    with pytest.raises(BackendUnavailable, match="folder '.*nowhere' was not found — set AVATAR_STUDIO_STT_MODEL"):
        FasterWhisperSTT(str(tmp_path / "nowhere")).load()
    with pytest.raises(BackendUnavailable, match="'.*model.bin' is a file — set AVATAR_STUDIO_STT_MODEL to the"):
        FasterWhisperSTT(str(bundled_model_path() / "model.bin")).load()
    not_a_model = tmp_path / "empty-folder"
    not_a_model.mkdir()
    with pytest.raises(BackendUnavailable, match="Could not load the faster-whisper speech model '.*empty-folder'"):
        FasterWhisperSTT(str(not_a_model)).load()
    # a named model that is in no local cache, with downloads off (as with no network)
    with pytest.raises(BackendUnavailable, match="model 'small.en' .* cannot be downloaded, set AVATAR_STUDIO_STT_MODEL"):
        FasterWhisperSTT("small.en", download_root=tmp_path, local_files_only=True).load()


def test_model_loads_once_and_serves_threads(faster_whisper, speech):
    assert FasterWhisperSTT().load() is faster_whisper.load()
    results: dict[str, Transcript] = {}

    def work(key: str) -> None:
        results[key] = FasterWhisperSTT().transcribe(speech[key])

    threads = [threading.Thread(target=work, args=(key,)) for key in ("fox", "sister")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for key in ("fox", "sister"):
        assert word_error_rate(SENTENCES[key], results[key].text) <= MAX_WER, results[key].text


def save_random_whisper(path, *, n_vocab: int = 51864):
    """A tiny, randomly initialised Whisper saved as an openai-whisper checkpoint; n_vocab 51864 makes
    it English-only, 51865 multilingual.

    Random text never passes Whisper's quality checks, so every window is decoded at all six
    fallback temperatures; a 32-token text context (16 tokens a window) keeps that to about a
    second. Whisper leaves the text decoder's positional embedding uninitialised (``torch.empty``:
    real checkpoints overwrite it), which can hold NaNs, so it is filled here."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_text_ctx=32, n_text_state=64, n_text_head=2, n_text_layer=1, n_vocab=n_vocab)
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    torch.save({"dims": vars(dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def random_whisper_checkpoint(tmp_path_factory):
    return save_random_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")


def test_openai_whisper_transcribes_with_a_checkpoint(settings, speech, random_whisper_checkpoint):
    """Random weights: the text means nothing, but every step from file to Transcript runs."""
    steps = []
    transcript = transcribe_file(settings.with_(stt="openai-whisper", stt_model=str(random_whisper_checkpoint)),
                                 speech["sister"], progress=lambda fraction, message: steps.append(fraction))
    assert (transcript.backend, transcript.model) == ("openai-whisper", str(random_whisper_checkpoint))
    assert transcript.language == "en"  # n_vocab 51864: an English-only model
    samples, rate = spoken(SENTENCES["sister"])
    assert transcript.duration_s == pytest.approx(len(samples) / rate, abs=0.05)
    assert isinstance(transcript.text, str) and transcript.segments
    assert all(set(segment) == {"start", "end", "text"} for segment in transcript.segments)
    assert steps[0] == 0.0 and steps[-1] == 1.0
    timed = transcribe_file(settings.with_(stt="openai-whisper", stt_model=str(random_whisper_checkpoint)),
                            speech["sister"], word_timestamps=True)
    assert all(0 <= w["start"] <= w["end"] <= timed.duration_s for w in timed.words)
    assert all("words" in segment for segment in timed.segments)
    assert OpenAIWhisperSTT(str(random_whisper_checkpoint)).load() is OpenAIWhisperSTT(
        str(random_whisper_checkpoint)).load()


def test_multilingual_model_checks_the_language_code(speech, tmp_path):
    checkpoint = save_random_whisper(tmp_path / "multilingual.pt", n_vocab=51865)
    with pytest.raises(BadInput, match="'Klingon' is not a language code Whisper knows — use a two-letter code"):
        OpenAIWhisperSTT(str(checkpoint)).transcribe(speech["fox"], language="Klingon")


def test_openai_whisper_unknown_model_lists_the_names():
    with pytest.raises(BackendUnavailable, match=r"'base\.english' is neither a model name \(tiny\.en, .*base\.en"):
        OpenAIWhisperSTT("base.english").load()


def test_openai_whisper_not_installed_says_how_to_install(speech):
    code = (
        "import sys; sys.modules['whisper'] = None  # as if openai-whisper were not installed\n"
        "from pipeline.errors import BackendUnavailable\n"
        "from pipeline.settings import resolve\n"
        "from pipeline.speech.stt import transcribe_file\n"
        "try:\n"
        "    transcribe_file(resolve(dotenv=False), sys.argv[1], backend='openai-whisper')\n"
        "except BackendUnavailable as error:\n"
        "    print(f'{type(error).__name__}: {error}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(speech["fox"])], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout.strip() == "BackendUnavailable: openai-whisper is not installed — pip install openai-whisper", (
        done.stderr)


class _LateTimestamps(WhisperBackend):
    """A backend whose model stamps its last segment past the end of the audio, as tiny.en sometimes does."""

    name = "late"

    def load(self):
        return object()

    def _languages(self, model):
        return ["en"]

    def _recognise(self, model, audio, duration, language, report, words, live=False):
        late = {"start": 3.0, "end": duration + 2.65, "text": "in a few seconds"}
        if words:
            late["words"] = [{"word": " in", "start": 3.0, "end": 3.2},
                             {"word": " seconds", "start": duration + 2.0, "end": duration + 2.65}]
        return [{"start": 0.0, "end": 3.0, "text": "our studio"}, late], "en"


def test_segment_times_stay_inside_the_audio(speech):
    transcript = _LateTimestamps(model="late").transcribe(speech["studio"], word_timestamps=True)
    ends = [segment["end"] for segment in transcript.segments]
    assert ends == [3.0, transcript.duration_s] and transcript.text == "our studio in a few seconds"
    assert [(w["start"], w["end"]) for w in transcript.words] == [
        (3.0, 3.2), (transcript.duration_s, transcript.duration_s)]
