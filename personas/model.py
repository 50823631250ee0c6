"""The typed persona: who the avatar is, how it talks, the rules it keeps.

A ``Persona`` is validated once, where it is built (``__post_init__``), so a persona held by the
chat, the prompt builder or the check can be trusted. Files come in through ``Persona.from_dict``,
which also rejects unknown keys and prefixes every message with the file it came from, e.g.
``.../jenniel/persona.yaml: default_controls: mouth_openness must be a number from 0 to 1, got 1.5``.
A persona file is written by a person, so nothing is silently clamped or dropped: a wrong value is
an error that names the field.

Shapes (the YAML file mirrors them; see ``personas/examples/*/persona.yaml``):

- ``Rule``: one always- or never-rule in words, optionally with regexes the persona check can test
  (case-insensitive, ``re.search``). An always-rule is met when *any* of its ``require`` patterns
  is found in a reply; a never-rule is broken when *any* of its ``forbid`` patterns is. In a file,
  a rule without patterns may be written as plain text.
- ``Mode``: a way of talking, e.g. "lecture" or "role-play", with its own instructions and extra
  rules. ``in_persona: false`` marks a mode in which the model plays someone else (a customer in a
  role-play): the persona's tone, signature vocabulary and rules then stay out of the prompt and
  the check, and only the mode's own rules apply.
- ``LLMChoice``: the preferred backend (one of ``pipeline.settings.LLM_BACKENDS``; null: the
  studio's configured default) and model (null: the one configured for that backend).
- ``KnowledgeUse``: how the persona answers from the documents it was given (``app.py knowledge
  add``; they live in the database, not in the file): ``grounded: true`` answers only from them and
  says it does not know when they do not hold the answer. Written to the file only when set, so a
  persona that never used it keeps its file as it was.
- ``StyleUse``: how the creator writes, learned from samples of their own writing
  (``pipeline.style``, then accepted or edited by the creator): a ``description`` of the manner,
  signature ``phrases``, and ``examples`` — the pool of samples (at most 24, a paragraph each) from
  which the few most like each question are shown to the model as the voice to match
  (``personas.style``). Like ``knowledge``, written to the file only when set; out of persona (a
  role-play customer) it is not used.
- ``ReviewPolicy``: ``hold_replies: true`` holds every reply for the creator's review
  (``pipeline.review``): stored as pending, neither spoken nor rendered until approved. A
  conversation may say otherwise for itself. Written to the file only when set, like ``knowledge``.
- ``Speaking``: how long a spoken reply is (``max_sentences``, 1–12, default 3): a reply to be
  spoken or rendered asks the model for at most that many sentences, and no more than that are
  said. Written to the file only when it differs from the default.
- ``voice_tuning`` (``pipeline.speech.tuning.VoiceTuning``): how fast and how high the persona's
  voice speaks — ``speed`` 0.5–2 (× the voice's own pace, default 1) and ``pitch`` −12 to +12
  semitones (default 0). Every render, spoken reply and live reply of the persona uses it. Written
  to the file only when set, and then only the values that differ from the default.

Ids (persona and mode names) are slugs: 1–40 lowercase letters, digits and hyphens, not starting
or ending with a hyphen. They name folders, so ``check_slug`` is the gate every path goes through.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

from pipeline.controls import CONTROL_NAMES, EMOTIONS, Controls, check_emotion
from pipeline.errors import BadInput
from pipeline.settings import LLM_BACKENDS
from pipeline.speech.tuning import VoiceTuning

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
SLUG_MAX = 40
PORTRAIT_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}\.(?:jpe?g|png|webp)$", re.IGNORECASE)
VOICE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")

# Length limits, in characters (items: how many entries a list may hold). Generous for a person
# writing by hand, small enough that a prompt built from them still fits a small model.
MAX_NAME = 80
MAX_TEXT = 2000  # identity, tone, mode instructions
MAX_GREETING = 500
MAX_ITEM = 120  # one expertise entry or signature term
MAX_RULE = 300
MAX_PATTERN = 200
MAX_QUESTION = 500
DEFAULT_SPOKEN_SENTENCES = 3  # a spoken reply of 2–4 sentences is 10–20 s: a turn in a conversation, not a lecture
SPOKEN_SENTENCES_RANGE = (1, 12)
MAX_EXAMPLE = 600  # one style example: pipeline.style.SAMPLE_CHARS, what learning keeps of a sample
MAX_ITEMS = {"expertise": 20, "signature_vocabulary": 40, "rules": 30, "patterns": 10, "modes": 12,
             "sample_questions": 30, "phrases": 40, "examples": 24}

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f]")
_BLANK_LINE = re.compile(r"\n\s*\n")
_OTHER_LINE_BREAKS = str.maketrans({"\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"})


def check_slug(value: Any, what: str = "persona id") -> str:
    """``value`` if it is a valid slug, else a ``BadInput`` that shows at most a short preview."""
    if isinstance(value, str) and SLUG_RE.fullmatch(value):
        return value
    raise BadInput(f"{what} {preview(value)} is not valid: use 1–{SLUG_MAX} lowercase letters (a–z), digits and "
                   "hyphens, starting and ending with a letter or digit (e.g. 'jenniel')")


def slugify(name: str, fallback: str = "persona") -> str:
    """A valid slug made from a display name: "Jenniel Dupré" → "jenniel-dupre"."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:SLUG_MAX].rstrip("-")
    return slug or fallback


def preview(value: Any, limit: int = 40) -> str:
    """A value as it may appear in a message: short, escaped, its true length said when cut."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if not isinstance(value, str):
        return _kind(value)
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


@dataclass(frozen=True)
class Rule:
    """One rule in words, with the patterns (if any) that let the persona check test it."""

    text: str
    require: tuple[str, ...] = ()  # always-rules: met when any of these is found in a reply
    forbid: tuple[str, ...] = ()  # never-rules: broken when any of these is found

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", _text(self.text, "rule", MAX_RULE, one_line=True))
        for name in ("require", "forbid"):
            patterns = _list(getattr(self, name), name, MAX_ITEMS["patterns"])
            object.__setattr__(self, name, tuple(_pattern(p, f"{name}[{i}]") for i, p in enumerate(patterns)))

    @property
    def checkable(self) -> bool:
        return bool(self.require or self.forbid)

    @staticmethod
    def compile(pattern: str) -> re.Pattern:
        return re.compile(pattern, re.IGNORECASE)

    def to_data(self) -> str | dict:
        if not self.checkable:
            return self.text
        data: dict[str, Any] = {"rule": self.text}
        if self.require:
            data["require"] = list(self.require)
        if self.forbid:
            data["forbid"] = list(self.forbid)
        return data


@dataclass(frozen=True)
class Mode:
    """A way of talking with its own instructions; see the module docstring for ``in_persona``."""

    name: str
    instructions: str
    description: str = ""
    always: tuple[Rule, ...] = ()
    never: tuple[Rule, ...] = ()
    in_persona: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_slug(self.name, "mode name"))
        object.__setattr__(self, "instructions", _text(self.instructions, "instructions", MAX_TEXT))
        object.__setattr__(self, "description", _text(self.description, "description", MAX_RULE,
                                                      required=False, one_line=True))
        object.__setattr__(self, "always", _rules(self.always, "always"))
        object.__setattr__(self, "never", _rules(self.never, "never"))
        if not isinstance(self.in_persona, bool):
            raise BadInput(f"in_persona must be true or false, got {_kind(self.in_persona)}")

    def to_data(self) -> dict:
        data: dict[str, Any] = {"description": self.description, "instructions": self.instructions}
        if self.always:
            data["always"] = [rule.to_data() for rule in self.always]
        if self.never:
            data["never"] = [rule.to_data() for rule in self.never]
        if not self.in_persona:
            data["in_persona"] = False
        return data


@dataclass(frozen=True)
class LLMChoice:
    """The LLM backend a persona prefers (None: the studio's configured one, ``Settings.llm``) and
    its model (None: the one configured for that backend)."""

    backend: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.backend is not None and self.backend not in LLM_BACKENDS:
            raise BadInput(f"backend must be one of {', '.join(LLM_BACKENDS)} (or null for the studio's "
                           f"default), got {preview(self.backend)}")
        if self.model is not None:
            object.__setattr__(self, "model", _text(self.model, "model", 200, one_line=True))

    def to_data(self) -> dict:
        return {"backend": self.backend, **({"model": self.model} if self.model else {})}


@dataclass(frozen=True)
class KnowledgeUse:
    """How the persona uses its documents; see the module docstring."""

    grounded: bool = False  # answer only from the reference material, else say "I don't know"

    def __post_init__(self) -> None:
        if not isinstance(self.grounded, bool):
            raise BadInput(f"grounded must be true or false, got {_kind(self.grounded)}")

    @property
    def is_default(self) -> bool:
        return self == KnowledgeUse()

    def to_data(self) -> dict:
        return {"grounded": self.grounded}


@dataclass(frozen=True)
class StyleUse:
    """How the creator writes; see the module docstring. An example is one paragraph (no blank
    line inside it): the editor separates examples by blank lines, and a sample is a paragraph."""

    description: str = ""  # the manner in a sentence or two: "sentences of about 9 words, emoji now and then"
    phrases: tuple[str, ...] = ()  # signature phrases learned from the samples, most distinctive first
    examples: tuple[str, ...] = ()  # the pool few-shot examples are picked from, most representative first

    def __post_init__(self) -> None:
        object.__setattr__(self, "description", _text(self.description, "description", MAX_TEXT, required=False))
        object.__setattr__(self, "phrases", _strings(self.phrases, "phrases", MAX_ITEM))
        examples = _strings(self.examples, "examples", MAX_EXAMPLE, one_line=False)
        for i, example in enumerate(examples):
            if _BLANK_LINE.search(example):
                raise BadInput(f"examples[{i}] holds a blank line; an example is one paragraph — make it two "
                               "examples or join its lines")
        object.__setattr__(self, "examples", examples)

    @property
    def is_default(self) -> bool:
        return self == StyleUse()

    def to_data(self) -> dict:
        data: dict[str, Any] = {}
        if self.description:
            data["description"] = self.description
        if self.phrases:
            data["phrases"] = list(self.phrases)
        if self.examples:
            data["examples"] = list(self.examples)
        return data


@dataclass(frozen=True)
class Speaking:
    """How long the persona's spoken replies are; see the module docstring."""

    max_sentences: int = DEFAULT_SPOKEN_SENTENCES

    def __post_init__(self) -> None:
        low, high = SPOKEN_SENTENCES_RANGE
        value = self.max_sentences
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadInput(f"max_sentences must be a whole number from {low} to {high}, got {preview(value)}")

    @property
    def is_default(self) -> bool:
        return self == Speaking()

    def to_data(self) -> dict:
        return {"max_sentences": self.max_sentences}


@dataclass(frozen=True)
class ReviewPolicy:
    """Whether the persona's replies wait for the creator's review; see the module docstring."""

    hold_replies: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.hold_replies, bool):
            raise BadInput(f"hold_replies must be true or false, got {_kind(self.hold_replies)}")

    @property
    def is_default(self) -> bool:
        return self == ReviewPolicy()

    def to_data(self) -> dict:
        return {"hold_replies": self.hold_replies}


@dataclass(frozen=True)
class Persona:
    """A persona; lists become tuples and every field is checked when it is built.

    ``origin`` is not part of the file: the store sets it to "example" (shipped with the repo),
    "user" (made in the studio) or "edited-example" (a user copy that overrides an example;
    deleting it brings the example back). It does not take part in equality."""

    id: str
    name: str
    identity: str
    expertise: tuple[str, ...] = ()
    tone: str = ""
    signature_vocabulary: tuple[str, ...] = ()
    greeting: str = ""
    always: tuple[Rule, ...] = ()
    never: tuple[Rule, ...] = ()
    modes: tuple[Mode, ...] = ()
    sample_questions: tuple[str, ...] = ()
    portrait: str | None = None  # file name inside the persona's folder
    voice: str | None = None  # TTS voice name; None = the bundled voice
    llm: LLMChoice = field(default_factory=LLMChoice)
    knowledge: KnowledgeUse = field(default_factory=KnowledgeUse)
    style: StyleUse = field(default_factory=StyleUse)
    review: ReviewPolicy = field(default_factory=ReviewPolicy)
    speaking: Speaking = field(default_factory=Speaking)
    default_controls: dict[str, float | str] = field(default_factory=dict)
    voice_tuning: VoiceTuning = field(default_factory=VoiceTuning)
    origin: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        set_ = partial(object.__setattr__, self)  # the dataclass is frozen; this is where it is built
        set_("id", check_slug(self.id))
        set_("name", _text(self.name, "name", MAX_NAME, one_line=True))
        set_("identity", _text(self.identity, "identity", MAX_TEXT))
        set_("tone", _text(self.tone, "tone", MAX_TEXT, required=False))
        set_("greeting", _text(self.greeting, "greeting", MAX_GREETING, required=False))
        set_("expertise", _strings(self.expertise, "expertise", MAX_ITEM))
        set_("signature_vocabulary", _strings(self.signature_vocabulary, "signature_vocabulary", MAX_ITEM))
        set_("sample_questions", _strings(self.sample_questions, "sample_questions", MAX_QUESTION, one_line=False))
        set_("always", _rules(self.always, "always"))
        set_("never", _rules(self.never, "never"))
        set_("modes", _modes(self.modes))
        portrait_ok = isinstance(self.portrait, str) and PORTRAIT_NAME_RE.fullmatch(self.portrait)
        if self.portrait is not None and not portrait_ok:
            raise BadInput(f"portrait must be an image file name in the persona's folder (.jpg, .png or .webp, "
                           f"no folders), got {preview(self.portrait)}")
        if self.voice is not None and not (isinstance(self.voice, str) and VOICE_RE.fullmatch(self.voice)):
            raise BadInput(f"voice must be a voice name such as 'en_US-joe-medium' (or null for the bundled "
                           f"voice), got {preview(self.voice)}")
        set_("llm", _llm(self.llm))
        set_("knowledge", _knowledge(self.knowledge))
        set_("style", _style(self.style))
        set_("review", _review(self.review))
        set_("speaking", _speaking(self.speaking))
        set_("default_controls", _controls(self.default_controls))
        set_("voice_tuning", VoiceTuning.from_data(self.voice_tuning, "voice_tuning"))
        if self.origin not in (None, "example", "user", "edited-example"):
            raise BadInput(f"origin must be example, user or edited-example, got {preview(self.origin)}")

    # -- from and to files ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, source: str = "persona", origin: str | None = None) -> Persona:
        """Build from a file's mapping; every message starts with ``source`` (the file)."""
        try:
            if not isinstance(data, Mapping):
                raise BadInput(f"must be a mapping of fields (name: …, identity: …), got {_kind(data)}")
            known = [f.name for f in fields(cls) if f.name != "origin"]
            for key in data:
                if key not in known:
                    raise BadInput(f"unknown key {preview(key)}; known keys: {', '.join(known)}")
            for key in ("id", "name", "identity"):
                if data.get(key) is None:
                    raise BadInput(f"{key!r} is missing — every persona needs an id, a name and an identity")
            return cls(**dict(data), origin=origin)
        except BadInput as error:
            raise BadInput(f"{source}: {error}") from None

    def to_data(self) -> dict[str, Any]:
        """Plain data in the file's key order (what the YAML writer writes)."""
        return {
            "id": self.id, "name": self.name, "identity": self.identity, "expertise": list(self.expertise),
            "tone": self.tone, "signature_vocabulary": list(self.signature_vocabulary), "greeting": self.greeting,
            "always": [r.to_data() for r in self.always], "never": [r.to_data() for r in self.never],
            "modes": {mode.name: mode.to_data() for mode in self.modes},
            "sample_questions": list(self.sample_questions), "portrait": self.portrait, "voice": self.voice,
            **({} if self.voice_tuning.is_default else {"voice_tuning": self.voice_tuning.to_data()}),
            "llm": self.llm.to_data(),
            **({} if self.knowledge.is_default else {"knowledge": self.knowledge.to_data()}),
            **({} if self.style.is_default else {"style": self.style.to_data()}),
            **({} if self.review.is_default else {"review": self.review.to_data()}),
            **({} if self.speaking.is_default else {"speaking": self.speaking.to_data()}),
            "default_controls": dict(self.default_controls),
        }

    # -- for the prompt builder, the chat and the check -------------------------------------
    @property
    def is_example(self) -> bool:
        return self.origin == "example"

    def mode(self, name: str | None) -> Mode | None:
        """The mode called ``name`` (None → None); unknown → ``BadInput`` listing this persona's."""
        if name is None:
            return None
        for mode in self.modes:
            if mode.name == name:
                return mode
        known = ", ".join(mode.name for mode in self.modes) or "none"
        raise BadInput(f"persona {self.id!r} has no mode {preview(name)}; its modes: {known}")

    def rules_for(self, mode: str | None = None) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
        """(always, never) in force in ``mode``: the persona's (unless the mode is out of persona)
        followed by the mode's own."""
        chosen = self.mode(mode)
        if chosen is None:
            return self.always, self.never
        if not chosen.in_persona:
            return chosen.always, chosen.never
        return self.always + chosen.always, self.never + chosen.never

    def vocabulary_for(self, mode: str | None = None) -> tuple[str, ...]:
        chosen = self.mode(mode)
        return () if chosen is not None and not chosen.in_persona else self.signature_vocabulary

    def style_for(self, mode: str | None = None) -> StyleUse:
        """The style in force in ``mode``: none in a mode out of persona (the model is someone else)."""
        chosen = self.mode(mode)
        return StyleUse() if chosen is not None and not chosen.in_persona else self.style

    def controls(self, base: Controls | None = None) -> Controls:
        """``base`` (default: the standard controls) with this persona's defaults laid on top."""
        return (base or Controls()).merge(self.default_controls)


# -- field checks: each returns the clean value or raises BadInput naming the field ----------------
def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _text(value: Any, name: str, limit: int, *, required: bool = True, one_line: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text, got {_kind(value)}")
    # One kind of line break (YAML would turn the others into it on the next load anyway).
    value = value.replace("\r\n", "\n").translate(_OTHER_LINE_BREAKS)
    bad = _CONTROL_CHARS.search(value)
    if bad:
        raise BadInput(f"{name} contains a control character ({bad.group()!r}); remove it")
    if one_line:
        if "\n" in value.strip():
            raise BadInput(f"{name} must be one line, got {preview(value)}")
        text = value.strip()
    else:
        # Trailing spaces and surrounding blank lines carry no meaning and would stop the YAML
        # writer from using a readable literal block, so they are dropped here, once.
        text = "\n".join(line.rstrip() for line in value.split("\n")).strip("\n").rstrip()
    if required and not text:
        raise BadInput(f"{name} is empty")
    if len(text) > limit:
        raise BadInput(f"{name} is {len(text)} characters long; at most {limit} are allowed")
    return text


def _list(value: Any, name: str, max_items: int) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise BadInput(f"{name} must be a list, got {_kind(value)}")
    if len(value) > max_items:
        raise BadInput(f"{name} has {len(value)} entries; at most {max_items} are allowed")
    return tuple(value)


def _strings(value: Any, name: str, limit: int, *, one_line: bool = True) -> tuple[str, ...]:
    items = _list(value, name, MAX_ITEMS[name])
    result = tuple(_text(item, f"{name}[{i}]", limit, one_line=one_line) for i, item in enumerate(items))
    seen: set[str] = set()
    for i, item in enumerate(result):
        if item.casefold() in seen:
            raise BadInput(f"{name}[{i}] {item!r} is listed twice")
        seen.add(item.casefold())
    return result


def _pattern(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text (a regular expression), got {_kind(value)}")
    if not value.strip():
        raise BadInput(f"{name} is empty (an empty pattern would match every reply)")
    pattern = value  # not stripped: a space at either end of a regex means something
    if "\n" in pattern or _CONTROL_CHARS.search(pattern):
        raise BadInput(f"{name} must be one line without control characters, got {preview(pattern)}")
    if len(pattern) > MAX_PATTERN:
        raise BadInput(f"{name} is {len(pattern)} characters long; at most {MAX_PATTERN} are allowed")
    try:
        Rule.compile(pattern)
    except re.error as error:
        raise BadInput(f"{name}: {pattern!r} is not a valid regular expression ({error})") from None
    return pattern


_OTHER_KIND = {"always": ("require", "forbid", "never"), "never": ("forbid", "require", "always")}


def _rules(value: Any, name: str) -> tuple[Rule, ...]:
    own, other, other_list = _OTHER_KIND[name]
    rules = []
    for i, item in enumerate(_list(value, name, MAX_ITEMS["rules"])):
        where = f"{name}[{i}]"
        try:
            if isinstance(item, Rule):
                rule = item
            elif isinstance(item, str):
                rule = Rule(item)
            elif isinstance(item, Mapping):
                for key in item:
                    if key == other:
                        raise BadInput(f"{name}-rules take {own!r} patterns, not {other!r} (put the rule under "
                                       f"{other_list})")
                    if key not in ("rule", own):
                        raise BadInput(f"unknown key {preview(key)}; a rule has: rule, {own}")
                if item.get("rule") is None:
                    raise BadInput("'rule' is missing (the rule in words)")
                rule = Rule(item["rule"], **{own: item.get(own)})
            else:
                raise BadInput(f"must be text or a mapping (rule: …, {own}: […]), got {_kind(item)}")
            if getattr(rule, other):
                raise BadInput(f"{name}-rules take {own!r} patterns, not {other!r}")
        except BadInput as error:
            raise BadInput(f"{where}: {error}") from None
        rules.append(rule)
    return tuple(rules)


def _modes(value: Any) -> tuple[Mode, ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):  # the file's shape: {name: {description, instructions, …}}
        if len(value) > MAX_ITEMS["modes"]:
            raise BadInput(f"modes has {len(value)} entries; at most {MAX_ITEMS['modes']} are allowed")
        modes = []
        allowed = ("description", "instructions", "always", "never", "in_persona")
        for name, spec in value.items():
            where = f"modes.{name}" if isinstance(name, str) and len(name) <= SLUG_MAX else "modes"
            try:
                if isinstance(spec, Mode):
                    modes.append(spec)
                    continue
                if not isinstance(spec, Mapping):
                    raise BadInput(f"must be a mapping (description: …, instructions: …), got {_kind(spec)}")
                for key in spec:
                    if key not in allowed:
                        raise BadInput(f"unknown key {preview(key)}; a mode has: {', '.join(allowed)}")
                if spec.get("instructions") is None:
                    raise BadInput("'instructions' is missing")
                modes.append(Mode(name=name, **dict(spec)))
            except BadInput as error:
                raise BadInput(f"{where}: {error}") from None
    else:
        modes = list(_list(value, "modes", MAX_ITEMS["modes"]))
        for i, mode in enumerate(modes):
            if not isinstance(mode, Mode):
                raise BadInput(f"modes[{i}] must be a Mode or, in a file, a mapping of mode name → settings")
    names = [mode.name for mode in modes]
    for name in names:
        if names.count(name) > 1:
            raise BadInput(f"mode {name!r} is defined twice")
    return tuple(modes)


def _llm(value: Any) -> LLMChoice:
    if isinstance(value, LLMChoice):
        return value
    if value is None:
        return LLMChoice()
    if not isinstance(value, Mapping):
        raise BadInput(f"llm must be a mapping (backend: local, model: …), got {_kind(value)}")
    for key in value:
        if key not in ("backend", "model"):
            raise BadInput(f"llm: unknown key {preview(key)}; llm has: backend, model")
    try:
        return LLMChoice(backend=value.get("backend"), model=value.get("model"))
    except BadInput as error:
        raise BadInput(f"llm: {error}") from None


def _knowledge(value: Any) -> KnowledgeUse:
    if isinstance(value, KnowledgeUse):
        return value
    if value is None:
        return KnowledgeUse()
    if not isinstance(value, Mapping):
        raise BadInput(f"knowledge must be a mapping (grounded: true), got {_kind(value)}")
    for key in value:
        if key != "grounded":
            raise BadInput(f"knowledge: unknown key {preview(key)}; knowledge has: grounded")
    try:
        return KnowledgeUse(grounded=value.get("grounded", False))
    except BadInput as error:
        raise BadInput(f"knowledge: {error}") from None


STYLE_KEYS = ("description", "phrases", "examples")


def _style(value: Any) -> StyleUse:
    if isinstance(value, StyleUse):
        return value
    if value is None:
        return StyleUse()
    if not isinstance(value, Mapping):
        raise BadInput(f"style must be a mapping (description: …, phrases: […], examples: […]), "
                       f"got {_kind(value)}")
    for key in value:
        if key not in STYLE_KEYS:
            raise BadInput(f"style: unknown key {preview(key)}; style has: {', '.join(STYLE_KEYS)}")
    try:
        return StyleUse(**{key: value[key] for key in STYLE_KEYS if key in value})
    except BadInput as error:
        raise BadInput(f"style: {error}") from None


def _review(value: Any) -> ReviewPolicy:
    if isinstance(value, ReviewPolicy):
        return value
    if value is None:
        return ReviewPolicy()
    if not isinstance(value, Mapping):
        raise BadInput(f"review must be a mapping (hold_replies: true), got {_kind(value)}")
    for key in value:
        if key != "hold_replies":
            raise BadInput(f"review: unknown key {preview(key)}; review has: hold_replies")
    try:
        return ReviewPolicy(hold_replies=value.get("hold_replies", False))
    except BadInput as error:
        raise BadInput(f"review: {error}") from None


def _speaking(value: Any) -> Speaking:
    if isinstance(value, Speaking):
        return value
    if value is None:
        return Speaking()
    if not isinstance(value, Mapping):
        raise BadInput(f"speaking must be a mapping (max_sentences: 3), got {_kind(value)}")
    for key in value:
        if key != "max_sentences":
            raise BadInput(f"speaking: unknown key {preview(key)}; speaking has: max_sentences")
    try:
        return Speaking(max_sentences=value.get("max_sentences", DEFAULT_SPOKEN_SENTENCES))
    except BadInput as error:
        raise BadInput(f"speaking: {error}") from None


def _controls(value: Any) -> dict[str, float | str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadInput(f"default_controls must be a mapping (mouth_openness: 0.6, …), got {_kind(value)}")
    known = (*CONTROL_NAMES, "emotion")
    for key in value:
        if key not in known:
            raise BadInput(f"default_controls: unknown control {preview(key)}; known: {', '.join(known)}")
    result: dict[str, float | str] = {}
    for name in CONTROL_NAMES:  # fixed order: the file diffs well
        if name in value:
            number = value[name]
            # No clamping: a person wrote this number, so a wrong one is reported, not changed.
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number <= 1:
                shown = number if isinstance(number, (int, float)) and not isinstance(number, bool) else preview(number)
                raise BadInput(f"default_controls: {name} must be a number from 0 to 1, got {shown}")
            result[name] = float(number)
    if "emotion" in value:
        emotion = value["emotion"]
        if not isinstance(emotion, str) or emotion.strip().lower() not in EMOTIONS:
            raise BadInput(f"default_controls: emotion must be one of {', '.join(EMOTIONS)}, got {preview(emotion)}")
        result["emotion"] = check_emotion(emotion)
    Controls.from_dict(result)  # the one definition of what controls are; raises on anything it rejects
    return result
