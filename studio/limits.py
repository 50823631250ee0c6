"""Quotas at the door of Gradio's queue.

Every event that renders, talks to an LLM, or reads documents into a persona's knowledge or style
is wired with ``validator=quota(ctx, kind)``. Gradio runs an event's validator when the event asks
to join the queue (``/gradio_api/queue/join``), before it is queued; an answer marked invalid sends
the client HTTP 422 with the message, so nothing waits, nothing runs and no job is made. The
browser shows the message under the event's first input (the portrait, the message box…);
``gradio_client`` raises ``ValidationError`` with it.

In a studio with users, ``quota`` checks, for the event's owner (the guard has set it: the
validator runs through ``StudioBlocks.process_api`` like any event):

* ``render``: no more renders, chat turns, persona checks and document uploads waiting or running
  than ``queued_per_user`` (the wait limit: its message names what it stopped), and the render
  quotas of ``pipeline.quotas.check_render`` (per hour, video seconds per day);
* ``chat``: the same wait limit, the chat quota, and the render quotas too when the reply is to be
  a video (the value at ``output_at`` among the event's inputs);
* ``check`` (the persona check: one LLM call per sample question): the wait limit;
* ``knowledge`` (adding documents to a persona's knowledge: each file read, cut into passages and
  embedded — work like a render, on the same machine): the wait limit;
* ``style`` (learning a style from samples of the creator's writing: each file read, every sample
  measured and embedded — the same kind of work): the wait limit;
* ``review`` (approving a held reply, which speaks or renders it as its turn asked): the wait
  limit, and the render quotas when the reply is to be a video (the turn id at ``output_at``).

A studio without users checks nothing.

``chat_allowed(ctx)`` asks the ``chat`` question without an event, from any thread, for the owner
of the event that made it: the Live tab asks it before starting a hands-free question's answer
during its pause (``Chat.prefetch``), so nobody gets an answer begun that the turn would refuse.
"""

from __future__ import annotations

from typing import Any, Callable

import gradio as gr

from pipeline.quotas import QuotaExceeded, check_chat, check_render, check_waiting
from pipeline.review import requested_output

from .common import StudioContext

KINDS = ("render", "chat", "check", "knowledge", "style", "review")


def quota(ctx: StudioContext, kind: str, *, output_at: int | None = None) -> Callable[..., Any]:
    """The validator for an event of ``kind``; ``output_at``: where a chat event's reply kind is (an
    approval's turn id)."""
    if kind not in KINDS:
        raise ValueError(f"unknown quota kind {kind!r}")

    def check_quota(*values: Any) -> Any:
        if ctx.access.has_users:
            try:
                _check(ctx, kind, values[output_at] if output_at is not None and output_at < len(values) else None)
            except QuotaExceeded as refused:
                return _answer(values, str(refused))
        return _answer(values, None)

    check_quota.quota_kind = kind  # what StudioBlocks.waiting counts
    return check_quota


def chat_allowed(ctx: StudioContext) -> Callable[[], bool]:
    """Whether this event's owner may start a chat turn now, as a function any thread may call later."""
    if not ctx.access.has_users:
        return lambda: True
    owner, store = ctx.owner, ctx.runner.store

    def allowed() -> bool:
        waiting = ctx.blocks.waiting(owner) if ctx.blocks is not None else 0
        try:
            _check(ctx, "chat", None, waiting=waiting, store=store)
        except QuotaExceeded:
            return False
        return True

    return allowed


def _check(ctx: StudioContext, kind: str, output: Any, *, waiting: int | None = None, store=None) -> None:
    """Raise ``QuotaExceeded`` when the owner may not start a ``kind`` (``waiting``, ``store``: the
    owner's, when not this event's)."""
    limits = ctx.settings.limits
    check_waiting(ctx.waiting() if waiting is None else waiting, limits, asked=kind)
    store = store or ctx.runner.store
    if kind == "chat":
        check_chat(store, limits)
    if kind == "review":
        output = requested_output(ctx.settings, output, owner=ctx.owner) if isinstance(output, str) else None
    if kind == "render" or (kind in ("chat", "review") and output == "video"):
        check_render(store, limits)


def _answer(values: tuple, message: str | None) -> Any:
    """One verdict per input, the first carrying the message (a single one for a single input)."""
    verdicts = [gr.validate(message is None, message or "")] + [gr.validate(True, "")] * (len(values) - 1)
    return verdicts[0] if len(verdicts) == 1 else verdicts
