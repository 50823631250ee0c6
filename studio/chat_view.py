"""What the Chat tab shows: pipeline values (personas, turns, replies, conversations) turned into
the values its components take — choices, Markdown, chatbot messages, table rows, audio samples.
Plain functions of their arguments; the handlers in ``chat_tab`` fetch what they need and call them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np

from personas.model import Persona
from pipeline.chat import ChatReply
from pipeline.db import Conversation, Turn
from pipeline.knowledge import source_label
from pipeline.speech.wav import read_wav

NO_MODE = "(none)"  # mode names are slugs, so this can never be one
THINKING = "…"  # the assistant's bubble until the first tokens arrive
QUOTE_CHARS = 160  # of a source's passage, under the reply
HELD = "**Held for review** — not delivered until you approve it (Personas tab › Review)."
REJECTED = "**Rejected in review** ({reason}) — never delivered."
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&$])")  # what a document's words must not turn into


def mode_choices(persona: Persona | None) -> list[tuple[str, str]]:
    modes = persona.modes if persona else ()
    return [("none — the persona as is", NO_MODE)] + [
        (f"{mode.name} — {mode.description}" if mode.description else mode.name, mode.name) for mode in modes]


def greeting(persona: Persona | None) -> str:
    """The empty chat's placeholder: the persona's greeting."""
    if persona is None:
        return "Pick a persona to start."
    said = " ".join(persona.greeting.split())  # the YAML's line breaks are not the persona's
    return f"**{persona.name}**: {said}" if said else f"Say hello to **{persona.name}**."


def chat_messages(turns: list[Turn]) -> list[dict]:
    """The turns as chatbot messages; a question that failed shows why it got no answer, and a reply
    held for review (or rejected in it) is marked as not delivered."""
    messages = []
    for turn in turns:
        messages.append({"role": turn.role, "content": reply_bubble(turn.content, turn.review, turn.review_reason)})
        if turn.error:
            what = "No answer" if turn.role == "user" else "Reply kept, but"
            messages.append({"role": "assistant", "content": f"⚠️ _{what}: {turn.error}_"})
    return messages


def reply_bubble(text: str, review: str | None, reason: str | None = None) -> str:
    """What the chatbot shows for a turn: its text, under a mark when it waits for review or was
    rejected in it (an approved reply reads like any other)."""
    if review == "pending":
        return f"{HELD}\n\n{quoted(text)}"
    if review == "rejected":
        return f"{REJECTED.format(reason=reason or 'no reason given')}\n\n{quoted(text)}"
    return text


def quoted(text: str) -> str:
    """``text`` as a Markdown block quote."""
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines() or [""])


def audio_value(path: str) -> tuple[int, np.ndarray]:
    """A reply's WAV as samples: it lives outside the folders Gradio may serve."""
    samples, rate = read_wav(path)
    return rate, (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def reply_facts(reply: ChatReply) -> str:
    """The turn's facts under the reply: backend and model, timing, tokens, the video's job, notes."""
    timing = "from the cache" if reply.cached else f"{reply.latency_s:.1f} s"
    if reply.first_token_s and not reply.cached:
        timing += f" (first token {reply.first_token_s:.2f} s)"
    parts = [f"**{reply.llm}** · {reply.model}", timing]
    if reply.tokens_out:
        parts.append(f"{reply.tokens_out} tokens")
    if reply.job_id:
        parts.append(f"video: job `{reply.job_id}`")
    lines = [" · ".join(parts)] + [f"_Note: {note}_" for note in reply.notes]
    return "\n\n".join(lines)


def sources_markdown(sources: list[dict]) -> str:
    """The passages of the persona's documents the reply was given, numbered as it cites them, each
    named by source and heading (or page) with the start of its text; "" when there were none."""
    if not sources:
        return ""
    lines = ["**Sources**", ""]
    for number, source in enumerate(sources, start=1):
        label = plain(source_label(source["source"], source.get("locator")))
        lines.append(f"- \\[{number}\\] **{label}**: “{plain(short_quote(source['text']))}”")
    return "\n".join(lines)


def latest_sources(turns: list[Turn]) -> list[dict]:
    """The sources of the newest reply (a resumed conversation shows what its last answer drew on)."""
    replies = [turn for turn in turns if turn.role == "assistant"]
    return replies[-1].sources if replies else []


def short_quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """The start of ``text`` on one line, cut at a word with "…" when longer than ``limit``."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(",;:") + "…"


def plain(text: str) -> str:
    """Text from a document as Markdown that shows it as written: no links, emphasis or HTML."""
    return _MARKDOWN.sub(r"\\\1", text)


def hold_changed(hold: bool) -> str:
    return ("This conversation now holds its replies for your review: approve them in the Personas tab's Review "
            "section." if hold else "This conversation's replies are now delivered as they come (replies held "
            "earlier still wait in the Review section).")


def hold_for_next(hold: bool) -> str:
    return ("The next conversation holds its replies for your review." if hold
            else "The next conversation delivers its replies as they come.")


def resumed_facts(conversation: Conversation, turns: list[Turn]) -> str:
    mode = f" in mode {conversation.mode}" if conversation.mode else ""
    return f"Resumed: {len(turns)} turns with **{conversation.persona}**{mode}"


def conversation_rows(conversations: list[Conversation]) -> tuple[list[list[str]], list]:
    """The list's rows, and (row, conversation id) pairs to map a clicked row back."""
    rows, pairs = [], []
    for record in conversations:
        row = [record.persona, record.title or "(untitled)", when(record.updated_at or record.created_at)]
        rows.append(row)
        pairs.append((row, record.id))
    return rows, pairs


def clicked(pairs: list, row_value: Any, index: Any) -> str | None:
    """The id of the clicked row: by its values (the table may have been sorted), else its position."""
    matches = [conversation_id for row, conversation_id in pairs if list(row) == list(row_value or [])]
    if matches:
        return matches[0]
    index = index[0] if isinstance(index, (list, tuple)) else index
    return pairs[index][1] if isinstance(index, int) and 0 <= index < len(pairs) else None


def when(stamp: str) -> str:
    try:
        return dt.datetime.fromisoformat(stamp).astimezone().strftime("%b %d, %H:%M")
    except (TypeError, ValueError):
        return stamp or ""
