"""A creator's style measured from samples of their writing: real wordfreq data, the bundled
WordLlama vectors, files read through the same converter as knowledge, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_app
from documents import POSTS

from pipeline.errors import BadInput
from pipeline.style import SAMPLE_CHARS, StyleProfile, analyse, samples_from_csv, samples_from_files, style_similarity

ROOT = Path(__file__).resolve().parents[1]
PLAIN = [
    "The committee reviewed the annual report and approved the budget for the coming year.",
    "Members are reminded that the library will be closed during the public holiday.",
    "The minutes of the previous meeting were read and accepted without amendment.",
]


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def test_signature_phrases_are_the_creators_and_rare_in_english(cache):
    profile = analyse(POSTS, cache)
    assert profile.phrases[:2] == ["profit logic", "willingness to pay"]
    assert not {"the", "to", "about willingness", "profit", "willingness"} & set(profile.phrases)
    assert analyse(PLAIN, cache).phrases == [], "no phrase recurs in the minutes"


def test_habits_are_counted(cache):
    profile = analyse(POSTS, cache)
    assert profile.samples == 7 and profile.top_emoji[0] == "🚀" and profile.emoji_per_100_words > 3
    assert profile.exclamations_per_sentence > 0.2 and profile.ellipses_per_sample == pytest.approx(2 / 7, abs=1e-3)
    assert profile.hashtags_per_sample == pytest.approx(1 / 7, abs=1e-3)
    plain = analyse(PLAIN, cache)
    assert plain.emoji_per_100_words == 0 and plain.exclamations_per_sentence == 0
    assert plain.sentence_words_median > profile.sentence_words_median
    described = profile.describe()
    assert "emoji now and then (🚀" in described and '"profit logic"' in described
    assert "no emoji" in plain.describe()


def test_representative_samples_are_real_distinct_samples(cache):
    profile = analyse(POSTS + POSTS, cache)  # every post twice: the examples must still differ
    assert len(profile.examples) == 4 and len(set(profile.examples)) == 4
    assert set(profile.examples) <= set(POSTS)
    assert StyleProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


KITCHEN = [
    "Sourdough tip: feed the starter the night before and bake when it doubles. 🍞",
    "Slow-roasted tomatoes with garlic and thyme make the best pasta sauce of the summer.",
]


def test_the_pool_spans_the_creators_subjects_and_skips_near_duplicates_and_short_samples(cache):
    samples = POSTS + POSTS + KITCHEN + ["Thanks!", "Ok 🚀"]
    profile = analyse(samples, cache, pool=5)
    assert len(profile.pool) == 5 and len(set(profile.pool)) == 5 and set(profile.pool) <= set(samples)
    assert profile.pool[0] in profile.examples  # the most central sample leads
    assert set(profile.examples) <= set(POSTS)  # the centre is the pricing posts…
    assert set(KITCHEN) & set(profile.pool)  # …yet the pool reaches the kitchen too
    assert not {"Thanks!", "Ok 🚀"} & set(profile.pool)  # while longer samples remain
    everything = analyse(samples, cache)
    assert len(everything.pool) == len(set(samples)) and {"Thanks!", "Ok 🚀"} <= set(everything.pool)
    assert everything.pool[-2:] in (["Thanks!", "Ok 🚀"], ["Ok 🚀", "Thanks!"])  # the short ones last


def test_a_long_sample_is_cut_at_a_word_and_control_characters_go(cache):
    long = "Listen: pricing " + "is a conversation about willingness to pay " * 30
    profile = analyse([long, *POSTS[:3], "Bell\x07 rings twice today, friends"], cache)
    [kept] = [sample for sample in profile.pool if sample.startswith("Listen")]
    assert len(kept) <= SAMPLE_CHARS and kept.endswith("about…") and long.startswith(kept[:-1])
    assert long[len(kept) - 1] == " "  # cut between words, not inside one
    assert "Bell rings twice today, friends" in profile.pool


def test_replies_in_the_creators_manner_are_closer_than_minutes(cache):
    examples = analyse(POSTS, cache).examples
    alike = style_similarity(["Ask about willingness to pay before you cut a price! 🚀"], examples, cache)
    unlike = style_similarity(["The minutes were approved and the meeting closed at nine."], examples, cache)
    assert 0 <= unlike < alike <= 1
    assert style_similarity([], examples, cache) is None


def test_too_few_samples_and_empty_csv_are_one_clear_message(cache):
    with pytest.raises(BadInput, match="at least 3 samples"):
        analyse(["one", "  ", "two"], cache)
    with pytest.raises(BadInput, match="has no rows under its header"):
        samples_from_csv("caption\n", "“export.csv”")


def test_samples_come_from_a_csv_export_and_documents(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("id,caption,likes\n1,\"First post, with a comma 🚀\",10\n2,Second post,3\n3,,0\n")
    notes = tmp_path / "notes.md"
    notes.write_text("# Posts\n\nOne post.\n\nAnother post\nover two lines.\n")
    samples = samples_from_files([(export, "export.csv"), (notes, "notes.md")])
    assert samples == ["First post, with a comma 🚀", "Second post", "One post.", "Another post over two lines."]


def test_the_cli_prints_the_profile(tmp_path):
    posts = tmp_path / "posts.txt"
    posts.write_text("\n\n".join(POSTS))
    done = subprocess.run([sys.executable, "app.py", "style", str(posts), "--json"], cwd=ROOT,
                          env={**os.environ, "AVATAR_STUDIO_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["phrases"][:2] == ["profit logic", "willingness to pay"]
    few = tmp_path / "few.txt"
    few.write_text("Just one post.")
    refused = subprocess.run([sys.executable, "app.py", "style", str(few)], cwd=ROOT,
                             env={**os.environ, "AVATAR_STUDIO_HOME": str(tmp_path / "home")},
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.startswith("error: give at least 3 samples")


def test_the_cli_saves_the_learned_style_in_the_users_copy_of_a_persona(tmp_path, settings, capsys):
    from dataclasses import replace

    from personas import EXAMPLES_DIR, PersonaStore, StyleUse, yamlfile

    posts = tmp_path / "posts.txt"
    posts.write_text("\n\n".join(POSTS))
    shipped = (EXAMPLES_DIR / "jenniel" / "persona.yaml").read_bytes()

    code, out, _ = run_app(capsys, "style", str(posts), "--persona", "jenniel")
    assert code == 0 and "Proposed for Jenniel (jenniel); not saved — add --save to keep it:" in out
    assert PersonaStore(settings).get("jenniel").origin == "example"  # nothing written

    code, out, _ = run_app(capsys, "style", str(posts), "--persona", "jenniel", "--save")
    assert code == 0
    path = settings.home / "personas" / "jenniel" / "persona.yaml"
    assert f"Saved your copy of the example 'Jenniel' to {path}." in out
    assert "  phrases: profit logic, willingness to pay" in out and f"  examples: {len(POSTS)} samples" in out
    saved = PersonaStore(settings).get("jenniel")
    assert saved.origin == "edited-example" and saved.style.phrases[:2] == ("profit logic", "willingness to pay")
    assert set(saved.style.examples) == set(POSTS) and saved.style.description.startswith("Sentences of about")
    assert replace(saved, style=StyleUse()) == yamlfile.read(EXAMPLES_DIR / "jenniel" / "persona.yaml")  # style only
    assert (EXAMPLES_DIR / "jenniel" / "persona.yaml").read_bytes() == shipped  # the example untouched

    code, out, _ = run_app(capsys, "style", str(posts), "--persona", "jenniel", "--json")
    answer = json.loads(out)
    assert answer["saved"] is None and answer["style"]["phrases"][:2] == ["profit logic", "willingness to pay"]
    assert answer["profile"]["samples"] == len(POSTS)


@pytest.mark.parametrize("args, message", [
    (["--save"], "error: --save needs --persona ID: the persona to keep the learned style in"),
    (["--persona", "nobody", "--save"], "error: no persona 'nobody'; known: adam, jenniel"),
])
def test_the_cli_refuses_a_save_it_cannot_make_in_one_line(tmp_path, capsys, args, message):
    posts = tmp_path / "posts.txt"
    posts.write_text("\n\n".join(POSTS))
    code, out, err = run_app(capsys, "style", str(posts), *args)
    assert code == 2 and err.strip() == message and len(err.splitlines()) == 1 and out == ""
