"""The live reply's sentence splitter: hard cases, and the stream agreeing with the whole text."""

import random

import pytest

from pipeline.sentences import (
    MAX_SENTENCE_CHARS,
    SentenceSplitter,
    complete_part,
    first_sentences,
    is_complete,
    split_sentences,
)

HARD_CASES = [
    ("Hello there. How are you? I'm fine!", ["Hello there.", "How are you?", "I'm fine!"]),
    ("Dr. Smith arrived at 5 p.m. Then he left.", ["Dr. Smith arrived at 5 p.m.", "Then he left."]),
    ("Pi is 3.14 roughly. It costs $1,000.50 a year.", ["Pi is 3.14 roughly.", "It costs $1,000.50 a year."]),
    ('She said "Stop!" and ran. "Why?" he asked. "Because." OK.',
     ['She said "Stop!" and ran.', '"Why?" he asked.', '"Because."', "OK."]),
    ("1. Preheat the oven.\n2. Mix the flour.\nDone", ["1. Preheat the oven.", "2. Mix the flour.", "Done"]),
    ("I was born in 1990. Then I moved.", ["I was born in 1990.", "Then I moved."]),
    ("Wait... what? Hmm… Fine.", ["Wait... what?", "Hmm…", "Fine."]),
    ("See e.g. the manual. J. R. R. Tolkien wrote it.", ["See e.g. the manual.", "J. R. R. Tolkien wrote it."]),
    ("Approx. five payments, see No. 5 and Fig. 2 for details.",
     ["Approx. five payments, see No. 5 and Fig. 2 for details."]),
    ("Apples, pears, etc. They all grow here.", ["Apples, pears, etc.", "They all grow here."]),
    ("Visit example.com today. It is free.", ["Visit example.com today.", "It is free."]),
    ("Really?! Yes. (It works.) Good.", ["Really?!", "Yes.", "(It works.)", "Good."]),
    ("## Holidays\n\n- 25 days a year\n- plus public holidays", ["## Holidays", "- 25 days a year",
                                                                  "- plus public holidays"]),
    ("Numbers like 2.5 and v1.2.3 stay whole.", ["Numbers like 2.5 and v1.2.3 stay whole."]),
    ("", []),
    ("   \n  ", []),
]


@pytest.mark.parametrize("text, expected", HARD_CASES)
def test_hard_cases(text, expected):
    assert split_sentences(text) == expected


def _streamed(text: str, seed: int) -> list[str]:
    chunks = random.Random(seed)
    splitter, out, at = SentenceSplitter(), [], 0
    while at < len(text):
        size = chunks.randint(1, 7)
        out += splitter.feed(text[at:at + size])
        at += size
    return out + splitter.flush()


@pytest.mark.parametrize("text", [text for text, _ in HARD_CASES] + [
    "A run on " + "and on, " * 60 + "and it ends. Then a short one.",
    "Line one\nline two. Three!\n\n4. Four is a list item.\n5. So is five",
])
def test_the_stream_gives_the_same_sentences_however_the_text_is_cut(text):
    whole = split_sentences(text)
    for seed in range(40):
        assert _streamed(text, seed) == whole


def test_a_sentence_comes_out_once_the_next_one_has_started():
    splitter = SentenceSplitter()
    assert splitter.feed("The answer is 3.") == []  # "3." may be "3.14"
    assert splitter.feed(" ") == []  # and "3. " may be followed by "pm"
    assert splitter.feed("Then") == ["The answer is 3."]
    assert splitter.pending == "Then"
    assert splitter.feed(" we stop") == []
    assert splitter.flush() == ["Then we stop"]
    assert splitter.flush() == []


def test_a_run_on_is_cut_at_a_clause_and_nothing_is_lost():
    text = "We looked at " + ", ".join(f"option {n}" for n in range(60)) + " and chose one."
    sentences = split_sentences(text)
    assert len(sentences) > 1
    assert all(len(sentence) <= MAX_SENTENCE_CHARS for sentence in sentences)
    assert all(sentence.endswith(",") for sentence in sentences[:-1])
    assert " ".join(sentences) == text


def test_a_run_without_any_space_waits_for_its_end():
    blob = "x" * (MAX_SENTENCE_CHARS + 50)
    splitter = SentenceSplitter()
    assert splitter.feed(blob) == []
    assert splitter.feed(". Next") == [blob + "."]


def test_a_cut_off_reply_ends_on_its_last_whole_sentence():
    assert complete_part("First one. Second is cut off mid") == "First one."
    assert complete_part('He said "go." Then we') == 'He said "go."'
    assert complete_part("Steps:\n1. Mix.\n2. Bake until") == "Steps:\n1. Mix."
    assert complete_part("All whole. Both!") == "All whole. Both!"
    assert complete_part("Only a fragment") == "Only a fragment"  # better a fragment than silence
    assert complete_part("") == ""


def test_first_sentences_keeps_the_text_between_them():
    assert first_sentences("One. Two!  Three? Four.", 2) == "One. Two!"
    assert first_sentences("One.\nTwo. Three.", 2) == "One.\nTwo."
    assert first_sentences("Just one", 3) == "Just one"
    with pytest.raises(ValueError):
        first_sentences("x", 0)


def test_is_complete():
    assert is_complete("Done.") and is_complete('"Done!"') and is_complete("Done…) ")
    assert not is_complete("Not done") and not is_complete("- bullet")


def test_random_replies_stream_the_same_and_lose_no_word():
    pieces = ["Dr.", "e.g.", "3.", "3.14", "etc.", "J.", "word", "Word", "ok,", "so:", "wait...", "no!", "why?",
              '"Quote."', "(aside.)", "\n", "\n\n", "1.", "–", "x" * 30, "…", "U.S.", "5", "p.m."]
    for seed in range(60):
        pick = random.Random(seed)
        text = " ".join(pick.choice(pieces) for _ in range(pick.randint(5, 120)))
        whole = SentenceSplitter(max_chars=60)
        sentences = whole.feed(text) + whole.flush()
        streamed = SentenceSplitter(max_chars=60)
        out, at = [], 0
        while at < len(text):
            size = pick.randint(1, 9)
            out += streamed.feed(text[at:at + size])
            at += size
        assert out + streamed.flush() == sentences, text
        dropped_dashes = "".join(text.replace("–", "").split())
        assert "".join("".join(sentences).replace("–", "").split()) == dropped_dashes
