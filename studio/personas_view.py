"""What the Personas tab shows: personas, face checks and persona check reports turned into the
values its components take — choices, Markdown headings and notes, table rows. Plain functions of
their arguments; the handlers in ``personas_tab`` fetch what they need and call them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from personas.check import PASS_SCORE, CheckReport
from personas.form import NOT_SET
from personas.model import Persona
from pipeline.controls import EMOTIONS
from pipeline.errors import StudioError
from pipeline.face.check import check_face
from pipeline.settings import LLM_BACKENDS

if TYPE_CHECKING:
    from .common import StudioContext

NO_PORTRAIT = "No portrait yet: upload a front-facing photo and the face check shows what will be animated."


def heading(persona: Persona | None) -> str:
    if persona is None:
        return "### New persona"
    where = {"example": " · example", "edited-example": " · your copy of an example"}.get(persona.origin or "", "")
    return f"### {persona.name} `{persona.id}`{where}"


def face_of(store, source: Persona | None, new_photo: str | None) -> tuple[Any, str]:
    """The face check of the photo the form shows: a new upload, else the persona's portrait."""
    path = new_photo or (store.portrait_path(source) if source else None)
    if not path:
        return None, NO_PORTRAIT
    try:
        image, facts = check_face(path)
    except StudioError as error:
        return None, f"⚠ {error}"
    return image, facts_markdown(facts, new=bool(new_photo))


def facts_markdown(facts, *, new: bool) -> str:
    lines = "\n".join(f"- {line}" for line in facts.lines())
    title = "✓ **Face found** — saved with the persona on Save" if new else "✓ **Face found**"
    return f"{title}\n{lines}"


def refused_photo(error: StudioError, *, keeps_portrait: bool) -> str:
    """Why a new photo was not taken, and what the persona keeps."""
    keeps = "keeps its current portrait (shown)" if keeps_portrait else "has no portrait yet"
    return f"⚠ **This photo cannot be used.** {error}\n\nThe persona {keeps}."


def problems(skipped: list[str]) -> str:
    """The persona files that did not load, and why."""
    if not skipped:
        return ""
    return "**Not loaded** (fix the file and reopen this tab):\n" + "\n".join(f"- {problem}" for problem in skipped)


def persona_llm_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    """A persona may name only the backends a persona file accepts (``LLM_BACKENDS``)."""
    own = [choice for choice in ctx.backend_choices("llm") if choice[1] in LLM_BACKENDS]
    return [(f"Studio default ({ctx.settings.llm})", NOT_SET), *own]


def check_llm_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [("The persona's LLM", NOT_SET), *ctx.backend_choices("llm")]


def model_hint(ctx: StudioContext, backend: str | None) -> str:
    model = ctx.settings.llm_model(backend or ctx.settings.llm)
    return f"default: {model}" if model else "default: the bundled SmolLM2-135M"


def emotion_choices() -> list[tuple[str, str]]:
    return [("Not set — the controller decides", NOT_SET), *((emotion, emotion) for emotion in EMOTIONS)]


# -- the list and the check ----------------------------------------------------------------------
ORIGIN_MARK = {"example": " — example", "edited-example": " — edited example", "user": ""}


def list_choices(personas: Iterable[Persona]) -> list[tuple[str, str]]:
    """(label, id) for the persona list: examples and edited examples marked, ids shown only where
    two personas share a name."""
    personas = list(personas)
    names = [persona.name.casefold() for persona in personas]
    choices = []
    for persona in personas:
        shared = names.count(persona.name.casefold()) > 1
        label = persona.name + (f" ({persona.id})" if shared else "") + ORIGIN_MARK.get(persona.origin or "user", "")
        choices.append((label, persona.id))
    return choices


CHECK_HEADERS = ["#", "Question", "Score", "Signature terms", "Always-rules met", "Never-rules broken", "Time",
                 "Reply"]


def check_rows(report: CheckReport, *, reply_chars: int = 240) -> list[list[Any]]:
    """One row per question of a persona check, in ``CHECK_HEADERS`` order."""
    rows = []
    for number, result in enumerate(report.results, 1):
        if result.error is not None:
            rows.append([number, result.question, "error", "", "", "", "", f"error: {result.error}"])
            continue
        checkable = len(result.always_met) + len(result.always_missed)
        broken = "; ".join(f"{b.rule} (said {b.matched!r})" for b in result.never_broken) or "none"
        reply = "(empty)" if result.empty else result.reply.strip()
        if len(reply) > reply_chars:
            reply = reply[:reply_chars - 1] + "…"
        if result.echoed:
            reply = f"(reads the system prompt back) {reply}"
        rows.append([number, result.question, result.score, ", ".join(result.terms_used) or "none",
                     f"{len(result.always_met)}/{checkable}" if checkable else "—", broken,
                     f"{result.latency_s:.1f} s" if result.latency_s is not None else "—", reply])
    return rows


def check_verdict(report: CheckReport) -> str:
    """The check's outcome in Markdown: pass or fail, the score, and what to look at."""
    mode = f", mode {report.mode}" if report.mode else ""
    verdict = "PASS" if report.passed else "FAIL"
    lines = [f"### {verdict}: score {report.score}/100",
             (f"{report.persona_name}{mode}, {len(report.results)} questions with {report.backend} / "
              f"{report.model} in {report.duration_s:.1f} s. Passing needs a score of at least {PASS_SCORE}, "
              "no never-rule broken and no errors.")]
    if report.vocabulary_rate is not None:
        lines.append(f"- Signature terms in {report.vocabulary_rate:.0%} of replies; used: "
                     f"{', '.join(report.terms_used) or 'none'}")
    if report.style_score is not None:
        lines.append(f"- Style: {report.style_score}/100 close to the creator's writing (per reply: "
                     f"{', '.join('—' if r.style is None else str(r.style) for r in report.results)}; "
                     "reported, not part of the score)")
    if report.never_broken:
        lines.append(f"- Never-rules broken: {report.never_broken}")
    if report.always_missed:
        lines.append(f"- Always-rules missed: {report.always_missed}")
    if report.empty_replies:
        lines.append(f"- Empty replies: {report.empty_replies}")
    if report.echoed_replies:
        lines.append(f"- Replies that read the system prompt back (scored 0): {report.echoed_replies}")
    if report.errors:
        lines.append(f"- Questions the model failed to answer: {report.errors}")
    if report.unchecked_rules:
        lines.append("- Not checked automatically: " + " · ".join(report.unchecked_rules))
    lines += [f"- Note: {note}" for note in report.notes]
    return "\n".join(lines)


def mode_choices(persona: Persona | None) -> list[tuple[str, str]]:
    """(label, value) for the check's mode picker: the default first (value "")."""
    modes = [(mode.name + ("" if mode.in_persona else " (out of persona)"), mode.name)
             for mode in (persona.modes if persona else ())]
    return [("Default (no mode)", "")] + modes
