"""Captions, measured from what a render leaves: the WebVTT and SRT files beside its video, read back
with a parser of their own here, their words against the script, their times against the video's
duration (probed from output.mp4), and the job record that lists them."""

from __future__ import annotations

import json
import re
import unicodedata
from difflib import SequenceMatcher

import pytest

from pipeline import history
from pipeline.captions import (MAX_LINE_CHARS, MAX_LINES, MIN_CUE_S, TimedWord, cues_from_words, display_words,
                               estimated_words, srt, webvtt)
from pipeline.media import probe
from pipeline.runner import RenderRequest

SCRIPT = ("Hello there! Profit logic beats the market, every single time: and what you can do about it "
          "before the end of the year, even with a small budget. Ready?")
STAMP = r"(\d\d):(\d\d):(\d\d)[.,](\d\d\d)"


def parse(text: str, *, separator: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, lines) of every cue in a WebVTT (``separator`` ".") or SRT (",") file."""
    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        match = re.fullmatch(rf"{STAMP} --> {STAMP}", lines[timing].strip())
        assert match, f"not a cue timing line: {lines[timing]!r}"
        assert lines[timing].count(separator) == 2, lines[timing]
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        cues.append((h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000,
                     lines[timing + 1:]))
    return cues


def normalised(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return re.findall(r"[a-z0-9']+", text)


def check_readable(cues, duration_s: float) -> None:
    assert cues, "no cues"
    previous_end = 0.0
    for start, end, lines in cues:
        assert 0.0 <= previous_end <= start < end <= duration_s + 1e-3, (start, end, duration_s)
        assert 1 <= len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE_CHARS for line in lines), lines
        previous_end = end


@pytest.fixture
def rendered(runner, portrait):
    return runner.render(RenderRequest(image=portrait, text=SCRIPT, max_side=256))


def test_a_render_writes_webvtt_and_srt_beside_its_video_with_the_scripts_words(rendered, settings):
    folder = settings.job_dir(rendered.id)
    assert rendered.status == "done"
    duration = probe(folder / "output.mp4").duration_s
    vtt = (folder / "output.vtt").read_text(encoding="utf-8")
    subrip = (folder / "output.srt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n")
    vtt_cues, srt_cues = parse(vtt, separator="."), parse(subrip, separator=",")
    check_readable(vtt_cues, duration)
    assert [(a, b, lines) for a, b, lines in vtt_cues] == srt_cues  # the same cues in both files
    shown = " ".join(" ".join(lines) for _, _, lines in vtt_cues)
    assert normalised(shown) == normalised(SCRIPT)
    assert "Hello there!" in shown and "market," in shown  # the script's own punctuation and capitals
    assert len(vtt_cues) >= 3  # 150 characters and three sentences are never one cue
    # the first cue starts with the speech, the last ends with it (within the linger after the last word)
    assert vtt_cues[0][0] < 0.3 and vtt_cues[-1][1] > duration - 0.6
    # a sentence never runs on into the next cue's middle: every cue that is not the last ends a
    # sentence or a phrase, or breaks at a word boundary (the cue's text is whole words of the script)
    for _, _, lines in vtt_cues:
        assert " ".join(lines) in " ".join(SCRIPT.split())


def test_the_job_record_lists_the_caption_files(rendered, settings, runner):
    folder = settings.job_dir(rendered.id)
    assert rendered.captions["vtt"] == str(folder / "output.vtt")
    assert rendered.captions["srt"] == str(folder / "output.srt")
    assert rendered.captions["source"] == "tts" and rendered.captions["cues"] >= 3
    assert rendered.captions["burned_in"] is False
    details = history.job_details(settings, runner.store.get(rendered.id))
    assert details["captions"]["vtt"] == str(folder / "output.vtt")
    assert rendered.timings["captions"] >= 0
    saved = json.loads((folder / "captions.json").read_text())
    assert saved["source"] == "tts" and len(saved["cues"]) == rendered.captions["cues"]


def test_an_uploaded_recording_is_captioned_from_whisper_word_timestamps(runner, portrait, tmp_path):
    """The recording is the bundled voice saying SCRIPT, uploaded as an MP3: the captions are what
    Whisper (tiny.en) heard, which on clear speech is the script, give or take a word."""
    from pipeline.media import run_ffmpeg
    from pipeline.speech.tts import get_voice
    from pipeline.speech.wav import write_wav

    said = "Profit logic beats the market every single time. Ready to start?"
    synthesis = get_voice().synthesize(said)
    wav = write_wav(tmp_path / "said.wav", synthesis.samples, synthesis.sample_rate)
    run_ffmpeg(["-i", str(wav), str(tmp_path / "said.mp3")], what="making the test's recording")
    job = runner.render(RenderRequest(image=portrait, audio=tmp_path / "said.mp3", max_side=256))
    folder = runner.settings.job_dir(job.id)
    cues = parse((folder / "output.vtt").read_text(encoding="utf-8"), separator=".")
    check_readable(cues, probe(folder / "output.mp4").duration_s)
    heard = normalised(" ".join(" ".join(lines) for _, _, lines in cues))
    assert SequenceMatcher(None, heard, normalised(said)).ratio() >= 0.8, heard
    assert job.captions["source"] == "transcribed"


def test_a_voice_without_timings_gets_estimated_captions_that_say_so(rendered, runner):
    """A voice that gives no phoneme timings (a hosted TTS) has no word timings: the captions stage
    spreads the script over the voiced spans and the job notes the times are estimated."""
    from pipeline.stages import stage_captions

    folder = runner.settings.job_dir(rendered.id)
    speech = json.loads((folder / "speech.json").read_text())
    del speech["words"], speech["phonemes"]
    (folder / "speech.json").write_text(json.dumps(speech))
    fields = stage_captions(runner._context(rendered))
    assert fields["captions"]["source"] == "estimated"
    assert any("estimated" in note for note in fields["notes"])
    cues = parse((folder / "output.srt").read_text(encoding="utf-8"), separator=",")
    check_readable(cues, probe(folder / "output.mp4").duration_s)
    assert normalised(" ".join(" ".join(lines) for _, _, lines in cues)) == normalised(SCRIPT)


# -- the cues themselves, from words with known times ---------------------------------------------

def words_at(text: str, *, start: float = 0.0, each: float = 0.3, gap: float = 0.05) -> list[TimedWord]:
    words, at = [], start
    for piece in text.split():
        words.append(TimedWord(piece, round(at, 3), round(at + each, 3)))
        at += each + gap
    return words


def test_long_sentences_are_cut_at_phrase_boundaries_into_two_lines_at_most():
    text = ("Today we are going to talk about why profit logic beats the market every single time, and what "
            "you can do about it before the end of the year, even if you are just starting out.")
    words = words_at(text)
    cues = cues_from_words(words, words[-1].end + 1)
    check_readable([(c.start, c.end, list(c.lines)) for c in cues], words[-1].end + 1)
    assert " ".join(c.text for c in cues) == text
    assert any(c.text.endswith("time,") or c.text.endswith("year,") for c in cues[:-1])
    assert not any(c.text.split()[-1] in ("the", "a", "of", "to") for c in cues)


def test_a_cue_never_spans_a_sentence_end_or_a_long_pause_and_short_ones_are_joined():
    words = [*words_at("Welcome back.", each=0.4), *words_at("This is the second sentence.", start=1.0),
             *words_at("After a pause.", start=5.0)]
    cues = cues_from_words(words, 7.0)
    assert [c.text for c in cues] == ["Welcome back.", "This is the second sentence.", "After a pause."]
    # "Hi." is spoken in 0.3 s with the next sentence right behind it: it joins that one
    words = [*words_at("Hi.", each=0.3), *words_at("Nice to meet you.", start=0.35)]
    assert [c.text for c in cues_from_words(words, 3.0)] == ["Hi. Nice to meet you."]
    # with room after it, a short cue stays up MIN_CUE_S instead
    words = [*words_at("Hi.", each=0.3), *words_at("Nice to meet you.", start=2.0)]
    first = cues_from_words(words, 4.0)[0]
    assert first.text == "Hi." and first.end - first.start == pytest.approx(MIN_CUE_S)


def test_cue_times_stay_inside_the_video_even_when_the_words_run_past_it():
    words = words_at("The last word is stamped past the end of the clip.")
    cues = cues_from_words(words, 2.0)
    assert cues[-1].end <= 2.0 and all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert all(cue.start < cue.end for cue in cues)


def test_the_scripts_own_pieces_take_the_times_of_the_words_inside_them():
    timings = [("Wait", 0.0, 0.3), ("it's", 0.4, 0.6), ("2024", 0.7, 1.5), ("go", 1.6, 1.8)]
    words = display_words("Wait — it's 2024! 🎉 go", timings)
    assert [(w.text, w.start, w.end) for w in words] == [
        ("Wait —", 0.0, 0.3), ("it's", 0.4, 0.6), ("2024! 🎉", 0.7, 1.5), ("go", 1.6, 1.8)]
    with pytest.raises(ValueError):
        display_words("two words", timings)


def test_estimated_words_follow_the_voiced_spans():
    words = estimated_words("one two three four", [(0.0, 1.0), (3.0, 4.0)], 4.0)
    assert words[0].start == 0.0 and words[-1].end == pytest.approx(4.0)
    assert all(not (1.0 < w.start < 3.0) for w in words)  # nothing starts in the silence


def test_the_file_formats():
    cues = cues_from_words(words_at("Fish & chips <b>now</b>. Then --> more."), 10.0)
    vtt, subrip = webvtt(cues), srt(cues)
    assert "Fish &amp; chips &lt;b&gt;now&lt;/b&gt;." in vtt and "Then --&gt; more." in vtt
    assert "Then -> more." in subrip  # SubRip has no escapes: an arrow in the text would read as a timing
    assert srt([]) == "" and webvtt([]).strip() == "WEBVTT"
    assert re.search(r"^00:00:00,000 --> 00:00:0\d,\d{3}$", subrip, re.MULTILINE)


def test_caption_files_of_every_length_are_readable():
    """A 400-word script of sentences of every length: every cue inside the limits."""
    sentences = [" ".join(["word"] * n) + "." for n in range(1, 30)]
    words = words_at(" ".join(sentences), each=0.25, gap=0.02)
    duration = words[-1].end + 0.5
    cues = cues_from_words(words, duration)
    check_readable([(c.start, c.end, list(c.lines)) for c in cues], duration)
    assert " ".join(c.text for c in cues) == " ".join(sentences)
    short = [c for c in cues if c.end - c.start < MIN_CUE_S - 1e-6]
    assert not short, short
