"""``style FILE...``: a creator's style measured from their own writing (posts, captions, a
transcript, a CSV export): signature phrases, sentence length, habits, representative samples."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.settings import resolve
from pipeline.style import analyse, samples_from_files


def cmd_style(args) -> int:
    samples = samples_from_files([(Path(path), Path(path).name) for path in args.files])
    profile = analyse(samples, resolve().cache)
    if args.json:
        print(json.dumps(profile.to_dict(), ensure_ascii=False))
        return 0
    print(profile.describe())
    print(f"\n{profile.samples} samples, {profile.words} words; sentences: median {profile.sentence_words_median:g}, "
          f"mean {profile.sentence_words_mean:g} words")
    print(f"emoji per 100 words: {profile.emoji_per_100_words:g} {' '.join(profile.top_emoji)}; "
          f"! per sentence: {profile.exclamations_per_sentence:g}; ? per sentence: {profile.questions_per_sentence:g}")
    print("\nRepresentative samples:")
    for example in profile.examples:
        print(f"- {example}")
    return 0
