"""``style FILE... [--persona ID [--save]]``: a creator's style measured from their own writing
(posts, captions, a transcript, a CSV export): signature phrases, sentence length, habits,
representative samples.

With ``--persona ID --save`` the persona section the profile proposes (``personas.style``:
description, phrases, examples) is kept in the persona, the way the studio's Save keeps an edited
form: in the user's copy, so an example persona gets an edited copy and the shipped file is never
touched. The persona is looked up before anything is read, so a wrong id costs no measuring.
``--persona`` alone shows the proposal and saves nothing; ``--save`` alone is a mistake.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from personas import PersonaStore
from personas.form import saved_file, saved_message
from personas.style import style_from_profile
from pipeline.errors import BadInput
from pipeline.settings import resolve
from pipeline.style import StyleProfile, analyse, samples_from_files


def cmd_style(args) -> int:
    settings = resolve()
    if args.save and not args.persona:
        raise BadInput("--save needs --persona ID: the persona to keep the learned style in")
    store = PersonaStore(settings)
    persona = store.get(args.persona) if args.persona is not None else None
    samples = samples_from_files([(Path(path), Path(path).name) for path in args.files])
    profile = analyse(samples, settings.cache)
    if persona is None:
        print(json.dumps(profile.to_dict(), ensure_ascii=False) if args.json else profile_text(profile))
        return 0
    style = style_from_profile(profile)
    saved = store.save(replace(persona, style=style)) if args.save else None
    if args.json:
        print(json.dumps({"profile": profile.to_dict(), "style": {"description": style.description,
                                                                  "phrases": list(style.phrases),
                                                                  "examples": list(style.examples)},
                          "saved": str(saved_file(store, saved)) if saved else None}, ensure_ascii=False))
        return 0
    print(profile_text(profile))
    print(f"\n{saved_message(store, saved)}" if saved else
          f"\nProposed for {persona.name} ({persona.id}); not saved — add --save to keep it:")
    print(f"  description: {style.description}")
    print(f"  phrases: {', '.join(style.phrases) or 'none'}")
    print(f"  examples: {len(style.examples)} samples, the few most like each question shown with it")
    return 0


def profile_text(profile: StyleProfile) -> str:
    lines = [profile.describe(),
             f"\n{profile.samples} samples, {profile.words} words; sentences: median "
             f"{profile.sentence_words_median:g}, mean {profile.sentence_words_mean:g} words",
             f"emoji per 100 words: {profile.emoji_per_100_words:g} {' '.join(profile.top_emoji)}; "
             f"! per sentence: {profile.exclamations_per_sentence:g}; ? per sentence: "
             f"{profile.questions_per_sentence:g}",
             "\nRepresentative samples:"]
    lines += [f"- {example}" for example in profile.examples]
    return "\n".join(lines)
