"""The persona check: does the model answer *as* the persona? No video, just the words.

``run_check`` asks the model each question (default: the persona's ``sample_questions``) with the
system prompt the chat would send for that question, and scores every reply on what can be
checked by a machine. The prompt is built per question as ``Chat`` builds it: the passages its
documents hold for the question (``find_passages``, when the caller gives the owner's
``knowledge``: a grounded persona judged without its documents could only say "I don't know") and
the examples of the creator's writing most like it (``pick_examples``, when the caller gives the
embedding ``cache``), fitted to the model's context window the same way. A lookup that cannot run
(no embedding model) is noted in the report's ``notes`` and the check goes on without it.

What is scored:

- signature terms used: case-insensitive whole-word matches, where spaces and hyphens between the
  words of a term are interchangeable ("profit-logic" counts for "profit logic");
- always-rules with ``require`` patterns: met when any pattern is found, else missed;
- never-rules with ``forbid`` patterns: broken when any pattern is found (the matched text is kept,
  so the report shows why);
- rules without patterns are listed once as "not checked automatically";
- an empty reply, the latency, and an LLM error (recorded on its question; the check goes on);
- a reply that echoes the system prompt: when at least ``ECHO_SHARE`` of its word trigrams are
  the prompt's own, it is the instructions read back (which hold every signature phrase and every
  required word), not an answer, and it scores 0 like an empty one. The examples of the creator's
  writing count as the prompt's own, all of them, shown with this question or not: a reply that
  reads a post back is a copy, not an answer in their voice.

Scoring, per question that got a reply (errors are left out of the score, but fail the check)::

    score = 40·V + 30·A + 30·N            (0 for an empty or an echoed reply)
    V = 1 if the reply uses at least one signature term, else 0 (1 when there are no terms)
    A = share of the checkable always-rules that are met (1 when there are none)
    N = 1 if no never-rule is broken, else 0

The overall score is the mean over those questions, rounded (0 when none got a reply). The check
passes when the score is at least ``PASS_SCORE``, no never-rule was broken and no question failed
with an error: a single broken never-rule fails it, because for a persona like an F&I trainer one
non-compliant answer is the thing to catch. When no question got an answer at all the check did
not happen: ``unanswered`` says so, in words a caller can show as an error (the CLI exits 1).

The **style score** of a persona with a style (its ``examples``) says how close the replies come to
the creator's own writing, by the embedding model that picks the examples: each reply's best
cosine similarity to one of the examples (``pipeline.style.style_similarity``), times 100 — the
reply's ``style`` — and their mean over the questions that got a reply, an empty or echoed reply
counting 0, as ``style_score``. It is None for a persona without a style (or in a mode out of
persona, or without the embedding model). It is reported beside the other scores but is not part
of the score or of passing: similarity of meaning follows the subject of the question as much as
the voice, so the same persona scores differently on different questions, and no fixed bar means
"in their voice". It is for comparing: a prompt, a model or a set of examples against another.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.chat import check_reply_length, find_passages, fit_examples, fit_passages
from pipeline.errors import BackendUnavailable, BadInput, StudioError
from pipeline.knowledge import Knowledge
from pipeline.llm.base import LLMBackend
from pipeline.style import style_similarity

from .model import Persona, Rule
from .prompt import build_system_prompt, draws_on_knowledge
from .style import pick_examples

PASS_SCORE = 60
ECHO_SHARE = 0.5  # of a reply's word trigrams found in the system prompt: the prompt read back
ECHO_MIN_WORDS = 6  # shorter replies are judged on their words alone
WEIGHT_VOCABULARY, WEIGHT_ALWAYS, WEIGHT_NEVER = 40, 30, 30
Progress = Callable[[float, str], None]

_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                              "\u2011": "-"})


@dataclass
class BrokenRule:
    rule: str
    matched: str  # the text in the reply that broke it


@dataclass
class QuestionResult:
    question: str
    reply: str = ""
    latency_s: float | None = None
    terms_used: list[str] = field(default_factory=list)
    always_met: list[str] = field(default_factory=list)
    always_missed: list[str] = field(default_factory=list)
    never_broken: list[BrokenRule] = field(default_factory=list)
    empty: bool = False
    echoed: bool = False  # the reply reads the system prompt back (see ECHO_SHARE)
    error: str | None = None
    score: int | None = None  # None when the model failed to answer (see ``error``)
    style: int | None = None  # closeness to the creator's examples, 0–100; None: no style, or no real reply
    passages: int = 0  # passages of the persona's documents in this question's prompt
    examples: int = 0  # examples of the creator's writing in this question's prompt


@dataclass
class CheckReport:
    persona: str
    persona_name: str
    mode: str | None
    backend: str
    model: str
    results: list[QuestionResult]
    vocabulary: list[str]  # the signature terms in force (none in an out-of-persona mode)
    unchecked_rules: list[str]  # rules without patterns, "Always: …" / "Never: …"
    score: int
    passed: bool
    vocabulary_rate: float | None  # share of replies using at least one term; None: no terms
    terms_used: list[str]  # distinct terms used over all replies, in the persona's order
    always_missed: int
    never_broken: int
    empty_replies: int
    echoed_replies: int
    errors: int
    duration_s: float
    style_score: int | None = None  # see the module docstring; not part of ``score`` or ``passed``
    notes: list[str] = field(default_factory=list)  # what the check had to go without, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_check(persona: Persona, llm: LLMBackend, *, questions: list[str] | None = None, mode: str | None = None,
              progress: Progress | None = None, max_tokens: int = 200, knowledge: Knowledge | None = None,
              cache: Path | None = None) -> CheckReport:
    """Ask ``llm`` each question as ``persona`` (in ``mode``) and score the replies; see the
    module docstring for the prompt and the scoring. ``knowledge``: the owner's documents (None:
    none are looked up); ``cache``: the embedding model's cache (None: no examples and no style
    score). ``progress(fraction, message)`` is called before each question."""
    build_system_prompt(persona, mode)  # raises BadInput for an unknown mode, before any call
    check_reply_length(max_tokens)  # the chat's rule, before any call
    questions = _questions(persona, questions)
    always, never = persona.rules_for(mode)
    vocabulary = persona.vocabulary_for(mode)
    style = persona.style_for(mode)
    progress = progress or (lambda fraction, message: None)
    context = _Context(persona, mode, llm, max_tokens, knowledge, cache if style.examples else None)
    started = time.perf_counter()

    results = []
    for index, question in enumerate(questions):
        progress(index / len(questions), f"question {index + 1} of {len(questions)}")
        result = QuestionResult(question=question)
        passages, examples = context.for_question(question)
        system = build_system_prompt(persona, mode, passages, examples)
        result.passages, result.examples = len(passages), len(examples)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        try:
            completion = llm.complete(messages, max_tokens=max_tokens)
        except StudioError as error:
            result.error = str(error) or type(error).__name__
        else:
            result.reply, result.latency_s = completion.text or "", completion.latency_s
            _score(result, vocabulary, always, never, _echo_source(system, style.examples))
            if context.cache is not None and not (result.empty or result.echoed):
                result.style = context.style_of(result.reply, style.examples)
        results.append(result)
    progress(1.0, "done")
    report = _report(persona, llm, mode, results, vocabulary, always, never, time.perf_counter() - started)
    if context.cache is not None:
        answered = [r for r in results if r.error is None]
        if answered and all(r.style is not None or r.empty or r.echoed for r in answered):
            report.style_score = round(sum(r.style or 0 for r in answered) / len(answered))
    report.notes = context.notes
    return report


class _Context:
    """What the chat would add to the prompt for a question: passages and examples, fitted as the
    chat fits them. A lookup that cannot run is noted once and left out from then on."""

    def __init__(self, persona: Persona, mode: str | None, llm: LLMBackend, max_tokens: int,
                 knowledge: Knowledge | None, cache: Path | None) -> None:
        self.persona, self.mode, self.llm, self.max_tokens = persona, mode, llm, max_tokens
        searched = knowledge is not None and draws_on_knowledge(persona, mode) and knowledge.has_any(persona.id)
        self.knowledge = knowledge if searched else None
        self.cache = cache
        self.notes: list[str] = []

    def for_question(self, question: str) -> tuple[list, list[str]]:
        found: list = []
        if self.knowledge is not None:
            try:
                found = find_passages(self.knowledge, self.persona.id, question, None)
            except BackendUnavailable as error:
                self.notes.append(f"{self.persona.name}'s documents could not be searched: {error}")
                self.knowledge = None
        picked: list[str] = []
        if self.cache is not None:
            try:
                picked = pick_examples(self.persona, question, self.cache, mode=self.mode)
            except BackendUnavailable as error:
                self.notes.append(f"examples of {self.persona.name}'s writing could not be picked, and the "
                                  f"style not scored: {error}")
                self.cache = None
        examples = fit_examples(self.llm, self.persona, self.mode, picked, question, self.max_tokens)
        return fit_passages(self.llm, self.persona, self.mode, found, question, self.max_tokens, examples), examples

    def style_of(self, reply: str, examples: tuple[str, ...]) -> int | None:
        try:
            similarity = style_similarity([reply], examples, self.cache)
        except BackendUnavailable as error:
            self.notes.append(f"the style could not be scored: {error}")
            self.cache = None
            return None
        return None if similarity is None else round(100 * similarity)


def unanswered(report: CheckReport) -> str | None:
    """Why the check could not judge the persona at all — every question failed with an error — or None."""
    if not report.results or report.errors < len(report.results):
        return None
    return (f"no question got an answer from {report.backend} ({report.model}): all {report.errors} failed, "
            f"the first with: {report.results[0].error}")


def score_reply(reply: str, persona: Persona, mode: str | None = None) -> QuestionResult:
    """One reply scored as ``run_check`` scores it (for the chat, or for trying rules by hand)."""
    always, never = persona.rules_for(mode)
    result = QuestionResult(question="", reply=reply)
    _score(result, persona.vocabulary_for(mode), always, never,
           _echo_source(build_system_prompt(persona, mode), persona.style_for(mode).examples))
    return result


def _echo_source(system: str, examples: tuple[str, ...]) -> str:
    """What a reply may not read back: the prompt, and every example of the creator's writing."""
    return "\n".join([system, *examples])


def _questions(persona: Persona, questions: list[str] | None) -> list[str]:
    if questions is None:
        questions = list(persona.sample_questions)
        if not questions:
            raise BadInput(f"persona {persona.id!r} has no sample questions; add some under sample_questions "
                           "or give the questions to ask")
    cleaned = [q.strip() for q in questions if isinstance(q, str) and q.strip()]
    if not cleaned:
        raise BadInput("no questions to ask: give at least one non-empty question")
    return cleaned


def _score(result: QuestionResult, vocabulary: tuple[str, ...], always: tuple[Rule, ...],
           never: tuple[Rule, ...], system: str) -> None:
    text = result.reply.translate(_TYPOGRAPHIC)
    if not text.strip():
        result.empty, result.score = True, 0
        return
    if echo_share(text, system) >= ECHO_SHARE:
        result.echoed, result.score = True, 0
        return
    result.terms_used = [term for term in vocabulary if term_pattern(term).search(text)]
    for rule in always:
        if rule.require:
            met = any(Rule.compile(pattern).search(text) for pattern in rule.require)
            (result.always_met if met else result.always_missed).append(rule.text)
    for rule in never:
        for pattern in rule.forbid:
            found = Rule.compile(pattern).search(text)
            if found:
                result.never_broken.append(BrokenRule(rule.text, found.group(0)))
                break
    checkable_always = len(result.always_met) + len(result.always_missed)
    vocabulary_part = 1.0 if not vocabulary or result.terms_used else 0.0
    always_part = len(result.always_met) / checkable_always if checkable_always else 1.0
    never_part = 0.0 if result.never_broken else 1.0
    result.score = round(WEIGHT_VOCABULARY * vocabulary_part + WEIGHT_ALWAYS * always_part
                         + WEIGHT_NEVER * never_part)


def echo_share(reply: str, system: str) -> float:
    """The share of ``reply``'s word trigrams that are also in ``system`` (0 for a short reply)."""
    words = re.findall(r"\w+", reply.lower())
    if len(words) < ECHO_MIN_WORDS:
        return 0.0
    prompt = re.findall(r"\w+", system.translate(_TYPOGRAPHIC).lower())
    known = set(zip(prompt, prompt[1:], prompt[2:]))
    trigrams = list(zip(words, words[1:], words[2:]))
    return sum(trigram in known for trigram in trigrams) / len(trigrams)


def term_pattern(term: str) -> re.Pattern:
    """Whole-word, case-insensitive; spaces and hyphens between words are interchangeable."""
    words = [re.escape(word) for word in re.split(r"[\s\-]+", term.strip()) if word]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(words) + r"(?!\w)", re.IGNORECASE)


def _report(persona: Persona, llm: LLMBackend, mode: str | None, results: list[QuestionResult],
            vocabulary: tuple[str, ...], always: tuple[Rule, ...], never: tuple[Rule, ...],
            duration: float) -> CheckReport:
    answered = [r for r in results if r.error is None]
    score = round(sum(r.score or 0 for r in answered) / len(answered)) if answered else 0
    used = {term for r in answered for term in r.terms_used}
    never_broken = sum(len(r.never_broken) for r in answered)
    errors = len(results) - len(answered)
    unchecked = [f"Always: {rule.text}" for rule in always if not rule.require]
    unchecked += [f"Never: {rule.text}" for rule in never if not rule.forbid]
    return CheckReport(
        persona=persona.id, persona_name=persona.name, mode=mode, backend=llm.name, model=str(llm.model),
        results=results, vocabulary=list(vocabulary), unchecked_rules=unchecked, score=score,
        passed=bool(answered) and errors == 0 and never_broken == 0 and score >= PASS_SCORE,
        vocabulary_rate=(round(sum(1 for r in answered if r.terms_used) / len(answered), 4)
                         if vocabulary and answered else None),
        terms_used=[term for term in vocabulary if term in used],
        always_missed=sum(len(r.always_missed) for r in answered), never_broken=never_broken,
        empty_replies=sum(1 for r in answered if r.empty), echoed_replies=sum(1 for r in answered if r.echoed),
        errors=errors, duration_s=round(duration, 3),
    )


def format_report(report: CheckReport, *, width: int = 100) -> str:
    """The report as a plain-text table for the command line."""
    mode = f", mode {report.mode}" if report.mode else ""
    lines = [f"Persona check: {report.persona_name} ({report.persona}{mode}) with {report.backend} / {report.model}",
             "",
             f"{'#':>2}  {'score':>5}  {'terms':>5}  {'always':>6}  {'never':>5}  {'time':>6}  question"]
    room = max(20, width - 44)
    for number, r in enumerate(report.results, 1):
        question = r.question if len(r.question) <= room else r.question[:room - 1] + "…"
        if r.error is not None:
            lines.append(f"{number:>2}  {'—':>5}  {'':>5}  {'':>6}  {'':>5}  {'':>6}  {question}")
            continue
        met = len(r.always_met)
        always = f"{met}/{met + len(r.always_missed)}" if met + len(r.always_missed) else "—"
        never = "EMPTY" if r.empty else "ECHO" if r.echoed else (f"{len(r.never_broken)}✗" if r.never_broken else "ok")
        latency = f"{r.latency_s:.1f}s" if r.latency_s is not None else "—"
        lines.append(f"{number:>2}  {r.score:>5}  {len(r.terms_used):>5}  {always:>6}  {never:>5}  {latency:>6}  "
                     f"{question}")
    verdict = "PASS" if report.passed else "FAIL"
    rule = f"pass: score ≥ {PASS_SCORE}, no never-rule broken, no errors"
    lines += ["", f"Score {report.score}/100: {verdict} ({rule})"]
    if report.echoed_replies:
        lines.append(f"Echoed: {report.echoed_replies} replies read the system prompt back and scored 0")
    if report.errors:
        lines.append(f"Errors: {report.errors} of {len(report.results)} questions got no answer (see below)")
    if report.vocabulary_rate is not None:
        lines.append(f"Signature terms: {report.vocabulary_rate:.0%} of replies used one; used: "
                     f"{', '.join(report.terms_used) or 'none'}")
    if report.style_score is not None:
        lines.append(f"Style: {report.style_score}/100 close to the creator's writing (per reply: "
                     f"{', '.join('—' if r.style is None else str(r.style) for r in report.results)}; "
                     "reported, not part of the score)")
    for number, r in enumerate(report.results, 1):
        for broken in r.never_broken:
            lines.append(f"Broken in #{number}: {broken.rule} (said: {broken.matched!r})")
        for rule in r.always_missed:
            lines.append(f"Missed in #{number}: {rule}")
        if r.error is not None:
            lines.append(f"Error in #{number}: {r.error}")
    if report.unchecked_rules:
        lines.append("Not checked automatically: " + " | ".join(report.unchecked_rules))
    lines += [f"Note: {note}" for note in report.notes]
    return "\n".join(lines)
