"""The speech stage: real Piper synthesis, real ffmpeg decoding, the files a job folder gets."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from piper.voice import AudioChunk, PhonemeAlignment

from pipeline.errors import BadInput
from pipeline.speech import (
    DEFAULT_VOICE,
    MAX_TEXT_CHARS,
    SpeechResult,
    Synthesis,
    check_text,
    get_voice,
    list_voices,
    load_speech,
    make_speech,
    voices,
)
from pipeline.speech.base import Voice
from pipeline.speech.tts import PhonemeTiming, join_sentences
from pipeline.speech.words import word_timings
from audio_fixtures import (
    TTS_LOAD_SECONDS,
    convert,
    ffmpeg_generate,
    piper_voice,  # noqa: F401  (fixture)
    read_wav_info,
    speechlike,
    write_wav,
)

TWO_SENTENCES = "Hello there, my friend. The weather is lovely today."
UNREADABLE = "it is not a supported audio format or is damaged"


@pytest.fixture(scope="module")
def tts_job(tmp_path_factory, piper_voice):  # noqa: F811
    out_dir = tmp_path_factory.mktemp("tts-job")
    started = time.perf_counter()
    result = make_speech(text=TWO_SENTENCES, audio_path=None, out_dir=out_dir)
    elapsed = time.perf_counter() - started
    print(f"\nTTS load {TTS_LOAD_SECONDS.get('load', 0):.2f} s; synthesis {elapsed:.2f} s for "
          f"{result.duration_s:.2f} s of speech (RTF {elapsed / result.duration_s:.3f})")  # fmt: skip
    return out_dir, result


# ---- TTS ---------------------------------------------------------------------------------------


def test_tts_writes_a_mono_16bit_wav_at_the_voice_rate(tts_job):
    out_dir, result = tts_job
    info = read_wav_info(out_dir / "speech.wav")
    assert (info["channels"], info["sample_width"], info["rate"]) == (1, 2, 22050)
    assert result.wav_path == out_dir / "speech.wav"
    assert result.sample_rate == 22050 and result.source == "tts"
    assert result.duration_s == pytest.approx(info["frames"] / 22050, abs=1e-4)
    # 9 words in two sentences: about 2.5 words a second, give or take.
    assert 2.0 < result.duration_s < 6.0
    assert np.abs(info["samples"]).max() > 0.5  # piper normalises to full scale


def test_speech_json_describes_the_speech(tts_job):
    out_dir, result = tts_job
    data = json.loads((out_dir / "speech.json").read_text())
    assert data["source"] == "tts"
    assert data["voice"] == DEFAULT_VOICE
    assert data["sample_rate"] == 22050
    assert data["duration_s"] == result.duration_s
    assert data["text"] == TWO_SENTENCES
    assert set(data["phonemes"][0]) == {"phoneme", "start", "end"}
    assert data == result.to_dict()
    assert load_speech(out_dir) == result


def test_phoneme_timings_are_monotonic_and_tile_the_clip(tts_job):
    _, result = tts_job
    phonemes = result.phonemes
    assert phonemes[0].phoneme == "^" and phonemes[0].start == 0.0
    assert phonemes[-1].phoneme == "$"
    assert phonemes[-1].end == result.duration_s
    for before, after in zip(phonemes, phonemes[1:]):
        assert before.start <= before.end == after.start
    assert sum(p.end - p.start for p in phonemes) == pytest.approx(result.duration_s, abs=1e-4)
    # Two sentences: one inserted pause of 0.2 s between '$' and the next '^'.
    pauses = [p for p in phonemes if p.phoneme == "_"]
    assert len(pauses) == 1 and pauses[0].end - pauses[0].start == pytest.approx(0.2, abs=1e-3)
    index = phonemes.index(pauses[0])
    assert phonemes[index - 1].phoneme == "$" and phonemes[index + 1].phoneme == "^"


def test_words_are_mapped_in_order_inside_the_clip(tts_job):
    _, result = tts_job
    assert [w.word for w in result.words] == re.findall(r"[A-Za-z]+", TWO_SENTENCES)
    for before, after in zip(result.words, result.words[1:]):
        assert before.start < before.end <= after.start
    assert result.words[-1].end < result.duration_s
    # The pause between the sentences sits between "friend" and "The".
    pause = next(p for p in result.phonemes if p.phoneme == "_")
    friend, the = result.words[3], result.words[4]
    assert friend.end <= pause.start and pause.end <= the.start


@pytest.mark.parametrize(
    ("text", "long_word"),
    [
        ("I went out of the house.", "house"),  # espeak joins "out of" into one run
        ("It happened in 1999.", "1999"),  # ...and reads 1999 as three runs
    ],
)
def test_words_survive_joined_and_expanded_words(tmp_path, piper_voice, text, long_word):  # noqa: F811
    result = make_speech(text=text, audio_path=None, out_dir=tmp_path)
    data = json.loads((tmp_path / "speech.json").read_text())
    assert [w["word"] for w in data["words"]] == re.findall(r"\w+", text)
    for before, after in zip(result.words, result.words[1:]):
        assert before.start < before.end <= after.start
    longest = max(result.words, key=lambda w: w.end - w.start)
    assert longest.word == long_word
    assert result.words[-1].end <= result.duration_s


def test_no_words_when_the_speech_does_not_follow_the_script():
    phonemes = make_phonemes("hɛloʊ wɝld")  # two spoken words
    assert word_timings("Hello world", phonemes) == [("Hello", 0.0, 0.05), ("world", 0.06, 0.1)]
    assert word_timings("...", phonemes) is None
    # One word cannot be spoken as six (the most a number or abbreviation expands to is four).
    assert word_timings("Supercalifragilistic", make_phonemes("a b c d e f")) is None


def make_phonemes(spoken: str) -> list[PhonemeTiming]:
    """One 10 ms phoneme per character, a space between words."""
    return [PhonemeTiming(ch, i / 100, (i + 1) / 100) for i, ch in enumerate(spoken)]


def test_the_voice_is_loaded_once_and_shared(piper_voice):  # noqa: F811
    # a voice object is made per call; the Piper model behind it is loaded once per process
    assert get_voice(None).load() is get_voice(DEFAULT_VOICE).load() is piper_voice.load()
    assert piper_voice.load() is piper_voice.load()


def test_unknown_voice_names_the_known_ones(tmp_path):
    assert list_voices()[0] == DEFAULT_VOICE
    with pytest.raises(BadInput, match=r"unknown voice 'en_GB-nobody'; known voices: en_US-joe-medium"):
        make_speech(text="Hello.", audio_path=None, out_dir=tmp_path, voice="en_GB-nobody")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The script is empty — type something for the avatar to say."),
        ("   \n\t ", "The script is empty — type something for the avatar to say."),
        ("?!... — !!", "The script has nothing to speak"),
        ("😀 🎉 ❤️", "The script has nothing to speak"),
        ("a" * (MAX_TEXT_CHARS + 1), "The script is 5,001 characters long; the limit is 5,000"),
        ("Hello\x00world", "The script contains a control character (NUL, U+0000) at character 6 — remove it; "
                           "only tabs and line breaks may be in a script."),
        ("Bold \x1b[1mtext", "The script contains a control character (ESC, U+001B) at character 6"),
        ("Page one.\x0cPage two.", "The script contains a control character (FF, U+000C) at character 10"),
        ("\x7f", "The script contains a control character (DEL, U+007F) at character 1"),
    ],
    ids=["empty", "whitespace", "punctuation", "emoji", "one-too-long", "nul", "escape", "form-feed", "delete"],
)
def test_unspeakable_scripts_are_rejected(tmp_path, text, message):
    with pytest.raises(BadInput) as caught:
        make_speech(text=text, audio_path=None, out_dir=tmp_path)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "speech.wav").exists() and not (tmp_path / "speech.json").exists()


def test_tabs_and_line_breaks_are_fine_in_a_script():
    assert check_text("\tFirst line.\r\nSecond line.\n") == "First line.\r\nSecond line."


def test_a_huge_script_is_rejected_before_any_synthesis(tmp_path):
    started = time.perf_counter()
    with pytest.raises(BadInput, match=r"^The script is 100,000 characters long; the limit is 5,000"):
        make_speech(text="Blah " * 19_999 + "Blah!", audio_path=None, out_dir=tmp_path)
    assert time.perf_counter() - started < 0.5


def test_exactly_one_of_script_and_audio(tmp_path):
    with pytest.raises(BadInput, match="not both"):
        make_speech(text="Hello.", audio_path=tmp_path / "a.wav", out_dir=tmp_path)
    with pytest.raises(BadInput, match="type a script or upload an audio file"):
        make_speech(text=None, audio_path=None, out_dir=tmp_path)


class _SilentVoice(Voice):
    """A TTS backend that says nothing: what a broken voice would do."""

    name = "test-silent"

    def synthesize(self, text: str) -> Synthesis:
        return Synthesis(np.zeros(22050, dtype=np.float32), 22050, None)


class _UntimedVoice(Voice):
    """A TTS backend without phoneme timings (a plain Piper model, a hosted voice)."""

    name = "test-untimed"

    def synthesize(self, text: str) -> Synthesis:
        return Synthesis(speechlike(1.0, rate=16000), 16000, None)


@pytest.fixture
def test_voices():
    with voices.registered(_SilentVoice.name, _SilentVoice), voices.registered(_UntimedVoice.name, _UntimedVoice):
        yield
    assert _SilentVoice.name not in voices.names() and _UntimedVoice.name not in voices.names()


def test_a_voice_that_produces_silence_is_bad_input(tmp_path, test_voices):
    with pytest.raises(BadInput, match="only silence"):
        make_speech(text="Hello.", audio_path=None, out_dir=tmp_path, voice="test-silent")
    assert not (tmp_path / "speech.wav").exists()


def test_a_voice_without_timings_still_makes_speech(tmp_path, test_voices):
    result = make_speech(text="Hello there.", audio_path=None, out_dir=tmp_path, voice="test-untimed")
    data = json.loads((tmp_path / "speech.json").read_text())
    assert result.phonemes is None and result.words is None
    assert "phonemes" not in data and "words" not in data
    assert data["voice"] == "test-untimed" and data["sample_rate"] == 16000
    assert read_wav_info(tmp_path / "speech.wav")["rate"] == 16000


def _chunk(samples: int, alignments: list[tuple[str, int]] | None) -> AudioChunk:
    return AudioChunk(
        sample_rate=22050, sample_width=2, sample_channels=1,
        audio_float_array=np.full(samples, 0.1, dtype=np.float32), phonemes=[], phoneme_ids=[],
        phoneme_alignments=None if alignments is None else [PhonemeAlignment(p, [], n) for p, n in alignments],
    )  # fmt: skip


def test_join_sentences_times_phonemes_across_the_pause():
    joined = join_sentences(
        [_chunk(300, [("^", 100), ("a", 150), ("$", 50)]), _chunk(200, [("^", 50), ("b", 150)])], pause_s=0.01
    )
    pause = round(0.01 * 22050)
    assert len(joined.samples) == 300 + pause + 200
    assert [p.phoneme for p in joined.phonemes] == ["^", "a", "$", "_", "^", "b"]
    assert joined.phonemes[3].start == round(300 / 22050, 5)
    assert joined.phonemes[-1].end == round((500 + pause) / 22050, 5)


def test_join_sentences_drops_all_timings_when_one_sentence_has_none():
    joined = join_sentences([_chunk(300, [("^", 300)]), _chunk(200, None)])
    assert joined.phonemes is None
    assert len(joined.samples) == 500 + round(0.2 * 22050)


# ---- uploads -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_wav(tmp_path_factory) -> Path:
    """1.5 s of speech-like sound at 48 kHz stereo: every upload must come out mono 44.1 kHz."""
    folder = tmp_path_factory.mktemp("uploads")
    return write_wav(folder / "voice.wav", speechlike(1.5, rate=48000), 48000, channels=2)


@pytest.mark.parametrize("ext", ["wav", "mp3", "ogg", "m4a", "webm", "flac"])
def test_uploads_become_mono_44k_wav(tmp_path, source_wav, ext):
    upload = source_wav if ext == "wav" else convert(source_wav, tmp_path / f"voice.{ext}")
    out_dir = tmp_path / "job"
    result = make_speech(text=None, audio_path=upload, out_dir=out_dir)
    info = read_wav_info(out_dir / "speech.wav")
    assert (info["channels"], info["sample_width"], info["rate"]) == (1, 2, 44100)
    assert result.duration_s == pytest.approx(1.5, abs=0.08)  # lossy codecs pad a little
    assert np.abs(info["samples"]).max() > 0.1
    data = json.loads((out_dir / "speech.json").read_text())
    expected = {"source": "upload", "voice": None, "sample_rate": 44100, "duration_s": result.duration_s, "text": None}
    assert data == expected
    assert result == SpeechResult(out_dir / "speech.wav", result.duration_s, 44100, "upload", None, None)
    assert sorted(p.name for p in out_dir.iterdir()) == ["speech.json", "speech.wav"]


def test_blank_script_next_to_an_upload_is_ignored(tmp_path, source_wav):
    result = make_speech(text="  ", audio_path=source_wav, out_dir=tmp_path)
    assert result.source == "upload"


def _bad_upload(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "gone.mp3"
    if kind == "empty":
        return _write(tmp_path / "empty.mp3", b"")
    if kind == "corrupt":
        return _write(tmp_path / "broken.ogg", bytes(range(256)) * 8)
    if kind == "not-audio":
        return _write(tmp_path / "notes.mp3", b"Shopping list: eggs, milk, bread.\n" * 30)
    if kind == "no-samples":
        return write_wav(tmp_path / "nothing.wav", np.zeros(0), 44100)
    if kind == "silent":
        return convert(write_wav(tmp_path / "quiet.wav", np.zeros(44100), 44100), tmp_path / "quiet.m4a")
    if kind == "nearly-silent":  # a hum at -60 dBFS: below the -50 dBFS floor
        return write_wav(tmp_path / "hum.wav", 0.001 * speechlike(1.0) / 0.3, 44100)
    if kind == "video-only":
        return ffmpeg_generate(tmp_path / "clip.mp4", "-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "mpeg4")
    if kind == "too-long":
        sine = "sine=f=220:d=605:r=8000"  # 605 s, cheap to make and to decode
        return ffmpeg_generate(tmp_path / "long.wav", "-f", "lavfi", "-i", sine, "-c:a", "pcm_u8")
    if kind == "folder":
        (tmp_path / "folder.mp3").mkdir()
        return tmp_path / "folder.mp3"
    raise AssertionError(kind)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "The audio file 'gone.mp3' was not found"),
        ("empty", "The audio file 'empty.mp3' is empty (0 bytes)"),
        ("corrupt", f"could not read the audio file 'broken.ogg': {UNREADABLE}"),
        ("not-audio", f"could not read the audio file 'notes.mp3': {UNREADABLE}"),
        ("no-samples", "The audio file 'nothing.wav' contains no sound"),
        ("silent", "The audio is silent — there is no speech to animate."),
        ("nearly-silent", "The audio is silent — there is no speech to animate."),
        ("video-only", "'clip.mp4' has no audio track"),
        ("too-long", "The audio is longer than 10 minutes"),
        ("folder", "'folder.mp3' is a folder, not an audio file."),
    ],
)
def test_bad_uploads_get_a_clear_one_line_message(tmp_path, kind, message):
    upload = _bad_upload(tmp_path, kind)
    out_dir = tmp_path / "job"
    with pytest.raises(BadInput) as caught:
        make_speech(text=None, audio_path=upload, out_dir=out_dir)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text and "Traceback" not in text
    assert str(tmp_path) not in text  # file names, never our paths
    assert list(out_dir.iterdir()) == []  # no speech.wav, no leftover temporary file


def test_a_damaged_file_message_carries_ffmpegs_reason(tmp_path):
    with pytest.raises(BadInput, match=r"\(ffmpeg: .*Invalid data found when processing input\)$"):
        make_speech(text=None, audio_path=_bad_upload(tmp_path, "not-audio"), out_dir=tmp_path / "job")


def test_threads_share_one_voice_and_synthesise_concurrently(tmp_path, piper_voice):  # noqa: F811
    from concurrent.futures import ThreadPoolExecutor

    def render(index: int) -> SpeechResult:
        assert get_voice(None).load() is piper_voice.load()
        return make_speech(text=f"This is job number {index}.", audio_path=None, out_dir=tmp_path / str(index))

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(render, range(3)))
    assert [r.wav_path.parent.name for r in results] == ["0", "1", "2"]
    assert all(r.duration_s > 0.8 and r.phonemes for r in results)


def test_emoji_are_not_read_aloud(tmp_path, piper_voice):  # noqa: F811
    plain = make_speech(text="Great news!", audio_path=None, out_dir=tmp_path / "plain")
    party = make_speech(text="Great news! 🎉🎉", audio_path=None, out_dir=tmp_path / "party")
    assert party.duration_s < plain.duration_s + 0.3  # not "party popper party popper"
    assert party.text == "Great news! 🎉🎉" and [w.word for w in party.words] == ["Great", "news"]
