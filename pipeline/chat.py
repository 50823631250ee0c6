"""Chat with a persona: one turn from the user's message to the reply (and its audio or video).

``Chat.ask`` does, in order:

1. checks the message and finds the persona and the conversation (a new one when none is given;
   a conversation keeps its persona and mode for life);
2. records the user's turn at once, so a failure later loses nothing the user typed;
3. looks the question up in the persona's documents, when it has any (``find_passages``): the
   ``KNOWLEDGE_PASSAGES`` best passages for the question, ranked together with those for the
   previous question and this one, so a follow-up ("and for contractors?") finds what it follows
   up on. Only the owner's documents are searched — the chat's owner is its jobs store's.
   When the persona has a style, the few examples of the creator's writing most like the question
   are picked too (``personas.style.pick_examples``). Either lookup needs the bundled embedding
   model; without it the turn goes on without what it would have found, and a note says so;
4. builds the request: the persona's system prompt for the mode with the examples in a block of
   quoted writing to match and the passages in a block of quoted reference data
   (``personas/prompt.py``), the conversation's earlier successful exchanges, the new message.
   The examples come first: those least like the question are left out while the prompt with
   them would leave no room for the message and the reply (``fit_examples``), so a long message
   loses its examples rather than being refused for them. The passages may then take at most
   ``PASSAGE_SHARE`` of the context window the prompt and the message leave — the weakest go
   first (``fit_passages``) — and the oldest exchanges are dropped until the rest fits with room
   for the reply (``fit_history``);
5. answers from the cache when this exact request was answered before, else takes the answer
   started for it ahead of the turn (``prefetch``: a hands-free question's reply, begun during the
   pause that ended it — ``pipeline.prefetch``), else asks the LLM, streaming tokens to
   ``on_token``. The passages are in the request, so a document that changes what is found
   changes the answer (so do the examples);
6. records the assistant's turn (backend, model, latency, tokens, cached, trimmed, and the
   passages given to the model as its ``sources``);
7. optionally speaks the reply (``output="audio"``: a WAV, instant) or renders it
   (``output="video"``: a render job through the same runner as every other render, linked to
   the turn, with the persona's portrait, voice and default controls) — ``deliver``. A reply the
   model stopped at the reply length (``finish_reason == "length"``) is spoken only to its last
   whole sentence (``sentences.complete_part``), and at most the persona's spoken length
   (``speaking.max_sentences``, which the prompt of a reply to be spoken asks for) is said; the
   text keeps all of it.

Review: a conversation that holds its replies (its own ``hold_replies``, set by
``ChatRequest.hold`` or ``ConversationStore.set_hold``; when unset, its persona's
``review.hold_replies``) stores the reply as pending with the delivery asked for, and step 7 waits
for the creator (``pipeline.review.approve`` calls ``deliver``). The caller still gets the text,
marked ``review="pending"``. Pending and rejected replies are left out of the history later turns
send the model (an approved one goes in as approved, edits included). A held reply is held even
when it came from the cache, so a cached answer never skips review. ``Chat.holds`` is the one
place that decides, for the turn and for a caller that must know before it (a live reply).

The backend is chosen as: the request's, else the persona's preferred one, else the settings'.
Errors are ``StudioError``s; the failed turn keeps the message. An error raised once the
conversation exists carries its id (``error.conversation_id``), so a client can go on with the
same conversation after a failed first turn.

``Chat.stream`` is ``ask`` for event-driven callers (the studio): the turn runs in a worker
thread and the caller iterates ``ChatEvent``s — the reply so far as tokens arrive, progress, and
the final ``ChatReply`` — on its own thread, so whatever it does with them (send them to a
browser) never runs inside the LLM's token callback. Tokens that arrive while the caller is busy
are merged into one event, so a slow consumer gets fewer, larger updates instead of a backlog.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .db import ConversationStore, JobStore, Turn, cache_key
from .errors import BackendUnavailable, BadInput, StudioError
from .knowledge import Hit, Knowledge, fuse
from .knowledge.relevance import content_words
from .llm import get_llm
from .llm.base import Completion, LLMBackend
from .prefetch import Prefetch, claim as claim_prefetch, start as start_prefetch
from .sentences import complete_part, first_sentences
from .settings import Settings

MAX_MESSAGE_CHARS = 4000
OUTPUTS = ("text", "audio", "video")
REPLY_TOKENS = 200  # longest reply by default (~150 words, about a minute of speech)
MAX_REPLY_TOKENS = 4096  # ~3000 words, 20 minutes of speech: more is a typo, not a reply anyone reads
TEMPERATURE_RANGE = (0.0, 2.0)  # what OpenAI and Gemini accept; past 2 sampling is noise
KNOWLEDGE_PASSAGES = 4  # passages of the persona's documents given with a question (~900 characters each)
PASSAGE_SHARE = 0.5  # of the context the prompt and the message leave; the rest keeps the latest exchanges
Progress = Callable[[float, str], None]
HELD_NOTE = ("held for your review: not spoken or rendered until you approve it, in the Personas tab's Review "
             "section or with `python app.py review approve {turn_id}`")


@dataclass
class ChatRequest:
    persona: str
    message: str
    conversation_id: str | None = None
    mode: str | None = None
    llm: str | None = None
    model: str | None = None
    output: str = "text"  # "text", "audio" (speak it) or "video" (render it)
    temperature: float = 0.7
    max_tokens: int = REPLY_TOKENS
    use_cache: bool = True
    controller: str | None = None  # for output="video": "rules" or "llm" (default: settings)
    spoken: bool = False  # the reply will be spoken though output is "text" (a live reply speaks it itself)
    hold: bool | None = None  # hold replies for review: True/False sets the conversation's; None leaves it


@dataclass
class ChatReply:
    conversation_id: str
    turn_id: str
    reply: str
    persona: str
    mode: str | None
    llm: str
    model: str
    cached: bool
    latency_s: float
    first_token_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    trimmed_turns: int = 0
    job_id: str | None = None
    video: str | None = None
    audio: str | None = None
    notes: list[str] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)  # {source, locator, text}: passage [n] is n-1
    finish_reason: str | None = None  # the model's: "stop", or "length" when the reply length cut it off
    review: str | None = None  # "pending": held for the creator's review, not spoken or rendered yet

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChatEvent:
    """One step of a streamed turn: ``kind`` is "text" (``text``: the whole reply so far),
    "progress" (``fraction`` and ``message``) or "reply" (``reply``: the finished turn, last)."""

    kind: str
    text: str = ""
    fraction: float = 0.0
    message: str = ""
    reply: ChatReply | None = None


def check_message(message: str | None) -> str:
    text = (message or "").strip()
    if not text:
        raise BadInput("type a message for the persona to answer")
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadInput(f"the message is {len(text)} characters long; the limit is {MAX_MESSAGE_CHARS}")
    return text


def check_temperature(temperature: float) -> None:
    """0–2, checked before any model is loaded (NaN and inf are refused, not passed on)."""
    low, high = TEMPERATURE_RANGE
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and low <= temperature <= high):
        shown = f"{temperature:g}" if isinstance(temperature, (int, float)) else repr(temperature)
        raise BadInput(f"the temperature must be a number from {low:g} to {high:g} (0 is the most predictable), "
                       f"got {shown}")


def check_reply_length(max_tokens: int) -> None:
    """1 to ``MAX_REPLY_TOKENS`` tokens, checked before any model is loaded; whether the reply also
    fits the model's context window with the prompt is ``fit_history``'s check."""
    if max_tokens < 1:
        raise BadInput(f"the reply length must be at least 1 token, got {max_tokens}")
    if max_tokens > MAX_REPLY_TOKENS:
        raise BadInput(f"a reply of up to {max_tokens:,} tokens is longer than a chat reply may be "
                       f"({MAX_REPLY_TOKENS:,} tokens, about 3,000 words) — ask for {MAX_REPLY_TOKENS:,} or fewer")


def fit_history(llm: LLMBackend, system: str, history: list[tuple[str, str]], message: str,
                reply_tokens: int) -> tuple[list[dict], int]:
    """The messages to send, keeping as many of the newest exchanges as fit the context window.

    Returns (messages, number of earlier turns left out)."""
    budget = llm.context_window - reply_tokens - 16  # a little slack for chat-template tokens
    used = llm.count_tokens(system) + llm.count_tokens(message) + 8
    room = budget + reply_tokens - used  # what the prompt leaves for the reply
    if used > budget and reply_tokens >= used and room >= 1:  # the reply asked for is what does not fit
        raise BadInput(f"a reply of up to {reply_tokens:,} tokens does not fit {llm.model}: its context window is "
                       f"{llm.context_window:,} tokens, and this prompt already takes about {used:,} of them — "
                       f"ask for at most {room:,}")
    if used > budget:
        raise BadInput(f"the message is too long for {llm.model}: about {used} tokens with the persona, "
                       f"and the model takes {llm.context_window} including its reply — shorten it")
    kept: list[tuple[str, str]] = []
    for question, answer in reversed(history):
        cost = llm.count_tokens(question) + llm.count_tokens(answer) + 8
        if used + cost > budget:
            break
        used += cost
        kept.insert(0, (question, answer))
    messages = [{"role": "system", "content": system}]
    for question, answer in kept:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": message})
    return messages, 2 * (len(history) - len(kept))


def find_passages(knowledge: Knowledge, persona: str, message: str, previous: str | None,
                  k: int = KNOWLEDGE_PASSAGES) -> list[Hit]:
    """The ``k`` passages that best answer ``message``, best first: its own ranking fused by
    reciprocal rank with the ranking for ``previous`` question and ``message`` together, so a
    follow-up keeps its subject while a new question still finds its own answer first. A message
    without a content word ("thanks!", "ok") follows up on nothing, and the search's relevance
    floor (``pipeline.knowledge.relevance``) leaves it no passages unless one means what it says."""
    follows_up = previous and content_words(message)
    queries = [message] + ([f"{previous}\n{message}"] if follows_up else [])
    rankings = [knowledge.search(persona, query, k) for query in queries]
    found: dict[tuple[str, str, str], Hit] = {}
    for ranking in rankings:
        for hit in ranking:
            found.setdefault((hit.source, hit.locator, hit.text), hit)
    fused = fuse([[(hit.source, hit.locator, hit.text) for hit in ranking] for ranking in rankings])
    return [found[key] for key, _ in fused][:k]  # ties: as first found


def fit_examples(llm: LLMBackend, persona, mode: str | None, examples: list[str], message: str,
                 reply_tokens: int, *, spoken: bool = False) -> list[str]:
    """The first of ``examples`` (most like the question first) with which the persona's prompt
    still leaves room for the message and the reply (``fit_history``'s budget); the least like it
    are left out first, all of them before the message would be refused."""
    from personas import build_system_prompt

    room = llm.context_window - reply_tokens - 16 - llm.count_tokens(message) - 8
    kept = list(examples)
    while kept and llm.count_tokens(build_system_prompt(persona, mode, examples=kept, spoken=spoken)) > room:
        kept.pop()
    return kept


def fit_passages(llm: LLMBackend, persona, mode: str | None, passages: list[Hit], message: str,
                 reply_tokens: int, examples: list[str] | tuple[str, ...] = (), *, spoken: bool = False) -> list[Hit]:
    """The best of ``passages`` whose reference block takes at most ``PASSAGE_SHARE`` of what the
    context window leaves after the persona's prompt (with its ``examples``), the message and the
    reply (``fit_history``'s budget), so the latest exchanges keep room too; the weakest are left
    out first."""
    from personas import build_system_prompt

    bare = llm.count_tokens(build_system_prompt(persona, mode, examples=examples, spoken=spoken))
    budget = llm.context_window - reply_tokens - 16
    allowance = PASSAGE_SHARE * (budget - bare - llm.count_tokens(message) - 8)
    kept = list(passages)
    while kept and (llm.count_tokens(build_system_prompt(persona, mode, kept, examples, spoken=spoken)) - bare
                    > allowance):
        kept.pop()
    return kept


def holds_replies(persona, conversation=None) -> bool:
    """Whether the conversation's replies wait for review: its own setting, else its persona's (a
    conversation not started yet, None, has no setting of its own). A turn's request may set it
    first: ``Chat.holds`` decides for a turn."""
    if conversation is not None and conversation.hold_replies is not None:
        return conversation.hold_replies
    return persona.review.hold_replies


def persona_llm_name(settings: Settings, persona, name: str | None = None) -> str:
    """The LLM backend that speaks as ``persona``: the one asked for, else the persona's own, else
    the configured one."""
    return name or persona.llm.backend or settings.llm


def persona_llm(settings: Settings, persona, name: str | None = None, model: str | None = None) -> LLMBackend:
    """The LLM to speak as ``persona`` (``persona_llm_name`` says which), with the model asked for,
    else the persona's own, else the backend's configured one."""
    return get_llm(settings, persona_llm_name(settings, persona, name), model or persona.llm.model)


class Chat:
    def __init__(self, settings: Settings, jobs: JobStore | None = None) -> None:
        from personas import PersonaStore

        self.settings = settings
        self.jobs = jobs or JobStore(settings.db_path)
        self.store = ConversationStore(self.jobs)  # the jobs store's owner's conversations only
        self.personas = PersonaStore(settings, owner=self.jobs.owner)

    def ask(self, request: ChatRequest, *, on_token: Callable[[str], None] | None = None,
            progress: Progress | None = None) -> ChatReply:
        progress = progress or (lambda fraction, message: None)
        if request.output not in OUTPUTS:
            raise BadInput(f"output must be one of {', '.join(OUTPUTS)}, got {request.output!r}")
        message, persona, conversation, mode = self._resolve(request)
        llm = persona_llm(self.settings, persona, request.llm, request.model)
        if conversation is None:
            conversation = self.store.create(persona=persona.id, mode=mode, title=message[:80],
                                             llm=llm.name, model=llm.model, hold_replies=request.hold)
        elif request.hold is not None and request.hold != conversation.hold_replies:
            conversation = self.store.set_hold(conversation.id, request.hold)
        try:
            return self._turn(request, persona, conversation, mode, llm, message, progress, on_token)
        except StudioError as error:
            error.conversation_id = conversation.id  # a client can continue the conversation after a failed turn
            raise

    def _resolve(self, request: ChatRequest):
        """Check ``request`` as a turn would take it, storing nothing: its message, persona, its
        conversation (None for a new one) and the mode the turn runs in. Raises BadInput (or the
        store's NotFound) for what a turn would refuse."""
        message = check_message(request.message)
        check_temperature(request.temperature)
        check_reply_length(request.max_tokens)
        persona = self.personas.get(request.persona)
        conversation = None
        mode = request.mode
        if request.conversation_id:
            conversation = self.store.get(request.conversation_id)
            if conversation.persona != persona.id:
                raise BadInput(f"conversation {conversation.id} is with {conversation.persona}, not {persona.id}")
            if request.mode and request.mode != conversation.mode:
                raise BadInput(f"conversation {conversation.id} is in mode {conversation.mode or 'default'}; "
                               "start a new conversation to change mode")
            mode = conversation.mode
        persona.mode(mode)  # an unknown mode is a BadInput here, before anything is stored
        return message, persona, conversation, mode

    def holds(self, request: ChatRequest, persona=None, conversation=None) -> bool:
        """Whether ``request``'s reply will be held for review: the one decision, made by the turn
        itself and by a caller that must know before the turn starts (``pipeline.converse`` does not
        speak a held reply live). The request's ``hold`` when it sets one (``ask`` makes it the
        conversation's), else ``holds_replies``: the conversation's own setting, else its
        persona's. ``persona`` and ``conversation`` are looked up from the request when not given."""
        if request.hold is not None:
            return request.hold
        if persona is None:
            persona = self.personas.get(request.persona)
        if conversation is None and request.conversation_id:
            conversation = self.store.get(request.conversation_id)
        return holds_replies(persona, conversation)

    def prefetch(self, request: ChatRequest) -> Prefetch | None:
        """Start the model on ``request``'s answer before its turn is asked (``pipeline.prefetch``):
        the prompt is built as ``ask`` will build it, and nothing is recorded. None when there is
        nothing to start: a request ``ask`` would refuse (it says why then), a reply that will be
        held for review, or one the answer cache holds."""
        try:
            message, persona, conversation, mode = self._resolve(request)
            if self.holds(request, persona, conversation):
                return None
            llm = persona_llm(self.settings, persona, request.llm, request.model)
            history = self._history(conversation.id) if conversation is not None else []
            messages, _, _ = self._prompt(request, persona, mode, llm, message, history, [])
        except StudioError:
            return None
        key = self._answer_key(llm, messages, request)
        if request.use_cache and self.store.cached_answer(key):
            return None
        return start_prefetch(key, lambda on_token: llm.complete(
            messages, max_tokens=request.max_tokens, temperature=request.temperature, on_token=on_token))

    def history(self, conversation_id: str) -> list[Turn]:
        return self.store.turns(conversation_id)

    def stream(self, request: ChatRequest) -> Iterator[ChatEvent]:
        """``ask`` in a worker thread, as events on the caller's thread (see the module docstring).

        Raises what ``ask`` raises, after the events that came before it. If the caller stops
        iterating, the turn still finishes in the background and is recorded as usual."""
        events: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                reply = self.ask(request, on_token=lambda chunk: events.put(("token", chunk)),
                                 progress=lambda fraction, message: events.put(("progress", fraction, message)))
                events.put(("reply", reply))
            except BaseException as error:  # noqa: BLE001 — handed to the caller's thread, raised there
                events.put(("error", error))

        threading.Thread(target=work, name="chat-turn", daemon=True).start()
        text = ""
        while True:
            batch = [events.get()]
            while not events.empty():
                batch.append(events.get_nowait())
            tokens = "".join(item[1] for item in batch if item[0] == "token")
            if tokens:
                text += tokens
                yield ChatEvent("text", text=text)
            steps = [item for item in batch if item[0] == "progress"]
            if steps:  # only the latest matters to someone watching a bar
                yield ChatEvent("progress", fraction=steps[-1][1], message=steps[-1][2])
            for item in batch:
                if item[0] == "reply":
                    yield ChatEvent("reply", text=item[1].reply, reply=item[1])
                    return
                if item[0] == "error":
                    raise item[1]

    # -- steps -----------------------------------------------------------------------------
    def _turn(self, request: ChatRequest, persona, conversation, mode: str | None, llm: LLMBackend, message: str,
              progress: Progress, on_token: Callable[[str], None] | None) -> ChatReply:
        history = self._history(conversation.id)
        user_turn = self.store.add_turn(conversation.id, "user", message)
        notes: list[str] = []
        try:
            messages, trimmed, passages = self._prompt(request, persona, mode, llm, message, history, notes, progress)
            progress(0.05, "thinking")
            completion, cached = self._answer(llm, messages, request, on_token)
            reply_text = completion.text.strip()
            if not reply_text:
                raise StudioError(f"{llm.name} ({llm.model}) returned an empty reply; try again or another model")
        except StudioError as error:
            self.store.update_turn(user_turn.id, error=str(error))
            raise
        sources = [{"source": hit.source, "locator": hit.locator, "text": hit.text} for hit in passages]
        held = self.holds(request, persona, conversation)
        turn = self.store.add_turn(
            conversation.id, "assistant", reply_text, llm=llm.name, model=completion.model or llm.model,
            latency_s=completion.latency_s, first_token_s=completion.first_token_s,
            tokens_in=completion.tokens_in, tokens_out=completion.tokens_out, cached=cached, trimmed_turns=trimmed,
            sources=sources,
            **({"review": "pending", "requested_output": {"output": request.output,
                                                            "controller": request.controller}} if held else {}),
        )
        reply = ChatReply(conversation_id=conversation.id, turn_id=turn.id, reply=reply_text, persona=persona.id,
                          mode=mode, llm=llm.name, model=turn.model, cached=cached,
                          latency_s=completion.latency_s or 0.0, first_token_s=completion.first_token_s,
                          tokens_in=completion.tokens_in, tokens_out=completion.tokens_out, trimmed_turns=trimmed,
                          notes=notes, sources=sources, finish_reason=completion.finish_reason)
        if trimmed:
            reply.notes.append(f"the {trimmed} oldest turns were left out to fit {llm.model}'s context window")
        if held:
            reply.review = "pending"
            reply.notes.append(HELD_NOTE.format(turn_id=turn.id))
            progress(1.0, "done")
            return reply
        self.deliver(persona, turn, reply, request.output, controller=request.controller, progress=progress)
        progress(1.0, "done")
        return reply

    def deliver(self, persona, turn: Turn, reply: ChatReply, output: str, *, controller: str | None = None,
                progress: Progress | None = None) -> None:
        """Speak (``output="audio"``) or render (``"video"``) the reply of ``turn``, filling in
        ``reply``'s audio, or job and video; "text" needs nothing more."""
        progress = progress or (lambda fraction, message: None)
        if output not in ("audio", "video"):
            return
        spoken = reply.reply
        if reply.finish_reason == "length":  # cut off by the reply length: never say half a sentence
            spoken = complete_part(reply.reply)
            if spoken != reply.reply:
                reply.notes.append("the reply was cut off at its length limit; only its whole sentences are spoken")
        limit = persona.speaking.max_sentences
        if (shorter := first_sentences(spoken, limit)) != spoken:
            spoken = shorter
            reply.notes.append(f"only the first {limit} sentences are spoken ({persona.name}'s spoken reply length)")
        if output == "audio":
            progress(0.5, "speaking")
            reply.audio = self._speak(persona, turn.conversation_id, turn, spoken)
        else:
            self._render(persona, turn, reply, controller, progress, spoken)

    def _prompt(self, request: ChatRequest, persona, mode: str | None, llm: LLMBackend, message: str,
                history: list[tuple[str, str]], notes: list[str], progress: Progress | None = None):
        """Steps 3–4 for a turn (reading only): (messages for the model, exchanges trimmed, passages given)."""
        from personas import build_system_prompt

        progress = progress or (lambda fraction, message: None)
        llm.prepare(progress=lambda fraction, stage: progress(0.05 * fraction, stage))
        found = self._passages(persona, mode, message, history[-1][0] if history else None, notes)
        picked = self._examples(persona, mode, message, notes)
        spoken = request.spoken or request.output in ("audio", "video")
        examples = fit_examples(llm, persona, mode, picked, message, request.max_tokens, spoken=spoken)
        if len(examples) < len(picked):
            notes.append(f"{len(picked) - len(examples)} of the {len(picked)} examples of {persona.name}'s "
                         f"writing were left out to fit {llm.model}'s context window")
        passages = fit_passages(llm, persona, mode, found, message, request.max_tokens, examples, spoken=spoken)
        if len(passages) < len(found):
            notes.append(f"{len(found) - len(passages)} of the {len(found)} passages found in "
                         f"{persona.name}'s documents were left out to fit {llm.model}'s context window")
        system = build_system_prompt(persona, mode, passages, examples, spoken=spoken)
        messages, trimmed = fit_history(llm, system, history, message, request.max_tokens)
        return messages, trimmed, passages

    def _passages(self, persona, mode: str | None, message: str, previous: str | None,
                  notes: list[str]) -> list[Hit]:
        """What the persona's documents (its owner's) say about ``message``, best first; none in a
        mode out of persona (``draws_on_knowledge``)."""
        from personas.prompt import draws_on_knowledge

        if not draws_on_knowledge(persona, mode):
            return []
        knowledge = Knowledge(self.settings, self.jobs.owner)
        try:
            if not knowledge.has_any(persona.id):
                return []
            return find_passages(knowledge, persona.id, message, previous)
        except BackendUnavailable as error:  # a chat goes on without the documents, and says so
            notes.append(f"{persona.name}'s documents could not be searched: {error}")
            return []

    def _examples(self, persona, mode: str | None, message: str, notes: list[str]) -> list[str]:
        """The examples of the persona's writing most like ``message`` (none without a style or
        out of persona)."""
        from personas.style import pick_examples

        try:
            return pick_examples(persona, message, self.settings.cache, mode=mode)
        except BackendUnavailable as error:  # a chat goes on in its plain voice, and says so
            notes.append(f"examples of {persona.name}'s writing could not be picked: {error}")
            return []

    def _history(self, conversation_id: str) -> list[tuple[str, str]]:
        """Earlier exchanges that succeeded, as (question, answer) pairs, oldest first: a reply
        still held or rejected was never said, so neither it nor its question is in them."""
        pairs, question = [], None
        for turn in self.store.turns(conversation_id):
            if turn.role == "user":
                question = None if turn.error else turn.content
            elif turn.role == "assistant" and question is not None and not turn.error \
                    and turn.review in (None, "approved"):
                pairs.append((question, turn.content))
                question = None
        return pairs

    def _answer_key(self, llm: LLMBackend, messages: list[dict], request: ChatRequest) -> str:
        owner = {"owner": self.jobs.owner} if self.jobs.owner is not None else {}  # users never share answers
        return cache_key(llm=llm.name, model=llm.model, messages=messages, temperature=request.temperature,
                         max_tokens=request.max_tokens, **owner)

    def _answer(self, llm: LLMBackend, messages: list[dict], request: ChatRequest,
                on_token: Callable[[str], None] | None) -> tuple[Completion, bool]:
        key = self._answer_key(llm, messages, request)
        if request.use_cache and (hit := self.store.cached_answer(key)):
            if on_token:
                on_token(hit["text"])
            return Completion(text=hit["text"], backend=llm.name, model=hit["model"], tokens_in=hit["tokens_in"],
                              tokens_out=hit["tokens_out"], latency_s=0.0, first_token_s=0.0), True
        started = time.perf_counter()
        ahead = claim_prefetch(key)  # asked for during the pause that ended a spoken question
        if ahead is not None:
            completion = ahead.follow(on_token)
        else:
            completion = llm.complete(messages, max_tokens=request.max_tokens, temperature=request.temperature,
                                      on_token=on_token)
        completion.latency_s = completion.latency_s or round(time.perf_counter() - started, 4)
        if completion.text.strip():
            self.store.remember_answer(key, llm=llm.name, model=completion.model or llm.model, text=completion.text,
                                       tokens_in=completion.tokens_in, tokens_out=completion.tokens_out)
        return completion, False

    def _speak(self, persona, conversation_id: str, turn: Turn, text: str) -> str:
        from .speech import make_speech

        out_dir = self.settings.home / "chat" / conversation_id / turn.id
        try:
            make_speech(text=text, audio_path=None, out_dir=out_dir, voice=persona.voice, settings=self.settings,
                        tuning=persona.voice_tuning)
        except StudioError as error:
            self.store.update_turn(turn.id, error=f"speaking the reply failed: {error}")
            raise
        path = str(out_dir / "speech.wav")
        self.store.update_turn(turn.id, audio_path=path)
        return path

    def _render(self, persona, turn: Turn, reply: ChatReply, controller: str | None, progress: Progress,
                spoken: str) -> None:
        from .runner import RenderRequest, Runner

        defaults = self.personas.render_defaults(persona)
        if defaults.portrait is None:
            raise BadInput(f"persona {persona.id} has no portrait to animate — add one in the Personas tab")
        runner = Runner(self.settings, self.jobs)
        render_request = RenderRequest(
            image=defaults.portrait, text=spoken, persona=persona.id, controls=defaults.controls,
            emotion=defaults.emotion, voice=defaults.voice, voice_tuning=defaults.voice_tuning,
            controller=controller, llm=reply.llm, llm_model=reply.model,
        )
        job = runner.submit(render_request)
        reply.job_id = job.id
        self.store.update_turn(turn.id, job_id=job.id)
        job = runner.dispatch(job.id, progress=lambda fraction, stage: progress(0.1 + 0.9 * fraction, stage))
        reply.video = job.video_path
        reply.notes.extend(job.notes)
