"""The hosted LLM backends (openai, mistral, gemini) against fake vendor servers on 127.0.0.1.

Every backend is built the way the studio builds it — ``get_llm(resolve(env), name)`` with the
base URL pointing at a fake from ``fake_vendors`` — and the fakes answer as the vendors do (paths,
auth, error bodies, SSE framing). The retry policy's pauses are shortened on the built backend
(``llm.retry`` is public) so the file stays fast; the Retry-After tests wait the real second.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from fake_vendors import FakeChatVendor, FakeGemini, FakeMistral, FakeOpenAI, Reply, delayed

from pipeline.errors import AuthFailed, MissingKey, OutOfCredit, RateLimited, RemoteError, RemoteTimeout
from pipeline.llm import get_llm
from pipeline.llm.openai_compat import OpenAICompatLLM
from pipeline.remote import RetryPolicy, error_for_status, parse_retry_after, redact, vendor_message
from pipeline.settings import resolve

KEY = "sk-test-0123456789abcdefSECRET"
MESSAGES = [
    {"role": "system", "content": "You are Ada, a calm guide."},
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hi, how can I help?"},
    {"role": "user", "content": "Tell me about the stars."},
]
SCHEMA = {"title": "mood", "type": "object", "properties": {"mood": {"type": "string"}}, "required": ["mood"],
          "additionalProperties": False}


@dataclass
class Kit:
    name: str
    fake_class: type[FakeChatVendor]
    url_variable: str
    key_variable: str
    model_variable: str
    model: str
    context_window: int


KITS = {
    "openai": Kit("openai", FakeOpenAI, "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "gpt-4.1-mini",
                  1_047_576),
    "mistral": Kit("mistral", FakeMistral, "MISTRAL_BASE_URL", "MISTRAL_API_KEY", "MISTRAL_MODEL",
                   "mistral-large-latest", 131_072),
    "gemini": Kit("gemini", FakeGemini, "GEMINI_BASE_URL", "GEMINI_API_KEY", "GEMINI_MODEL",
                  "gemini-2.5-flash-lite", 1_048_576),
}


@dataclass
class Vendor:
    kit: Kit
    fake: FakeChatVendor
    home: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {"AVATAR_STUDIO_HOME": self.home, self.kit.url_variable: self.fake.base_url,
               self.kit.key_variable: KEY, self.kit.model_variable: self.kit.model,
               "AVATAR_STUDIO_LLM_RETRIES": "2"}
        env.update(extra)
        return {k: v for k, v in env.items() if v}

    def llm(self, *, timeout_s: float | None = None, **extra: str):
        overrides = {"llm_timeout_s": timeout_s} if timeout_s else {}
        llm = get_llm(resolve(self.env(**extra), dotenv=False, **overrides), self.kit.name)
        llm.retry = replace(llm.retry, base_delay_s=0.05, max_delay_s=0.2)  # settings give the count
        return llm


@pytest.fixture(params=list(KITS))
def vendor(request, studio_home):
    kit = KITS[request.param]
    with kit.fake_class(key=KEY) as fake:
        yield Vendor(kit, fake, str(studio_home))


def one_line(error: BaseException) -> str:
    return str(error)


# -- success, streaming, JSON ---------------------------------------------------------------------

def test_complete_returns_text_tokens_and_model(vendor):
    llm = vendor.llm()
    completion = llm.complete(MESSAGES, max_tokens=50, temperature=0.3)
    assert completion.text == vendor.fake.answer
    assert (completion.backend, completion.model) == (vendor.kit.name, vendor.kit.model)
    assert (completion.tokens_in, completion.tokens_out) == (12, 7)
    assert completion.finish_reason == "stop"
    assert completion.latency_s is not None and completion.first_token_s is None
    assert llm.context_window == vendor.kit.context_window and llm.supports_schema
    assert len(vendor.fake.requests_to("chat")) == 1


def test_streaming_hands_out_chunks_that_join_to_the_answer(vendor):
    llm = vendor.llm()
    chunks: list[str] = []
    completion = llm.complete(MESSAGES, on_token=chunks.append)
    assert len(chunks) > 3 and "".join(chunks) == completion.text == vendor.fake.answer
    assert (completion.tokens_in, completion.tokens_out) == (12, 7)
    assert completion.model == vendor.kit.model and completion.finish_reason == "stop"
    assert 0 < completion.first_token_s <= completion.latency_s

    streamed = list(llm.stream(MESSAGES))
    assert "".join(streamed) == vendor.fake.answer and llm.last.text == vendor.fake.answer


def test_json_schema_is_requested_in_the_vendor_shape(vendor):
    vendor.fake.answer = '{"mood": "calm"}'
    result = vendor.llm().complete_json(MESSAGES, SCHEMA)
    assert result.value == {"mood": "calm"} and result.constrained and result.error is None
    body = vendor.fake.requests_to("chat")[-1].body
    if vendor.kit.name == "gemini":
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json" and config["responseJsonSchema"] == SCHEMA
    else:
        assert body["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "mood", "schema": SCHEMA, "strict": True}}


def test_openai_request_shape(studio_home):
    with FakeOpenAI(key=KEY) as fake:
        llm = Vendor(KITS["openai"], fake, str(studio_home)).llm()
        llm.complete(MESSAGES, max_tokens=55, temperature=0.25)
        llm.complete(MESSAGES, on_token=lambda _: None)
    plain, streamed = fake.requests_to("chat")
    assert plain.path == "/v1/chat/completions" and plain.header("authorization") == f"Bearer {KEY}"
    assert plain.body["messages"] == MESSAGES and plain.body["model"] == "gpt-4.1-mini"
    assert plain.body["max_tokens"] == 55 and plain.body["temperature"] == 0.25 and "stream" not in plain.body
    assert streamed.body["stream"] is True and streamed.body["stream_options"] == {"include_usage": True}


def test_mistral_request_shape(studio_home):
    with FakeMistral(key=KEY) as fake:
        llm = Vendor(KITS["mistral"], fake, str(studio_home)).llm()
        llm.complete(MESSAGES, max_tokens=55, temperature=0.25)
        llm.complete(MESSAGES, on_token=lambda _: None)
    plain, streamed = fake.requests_to("chat")
    assert plain.path == "/v1/chat/completions" and plain.header("authorization") == f"Bearer {KEY}"
    assert [{"role": m["role"], "content": m["content"]} for m in plain.body["messages"]] == MESSAGES
    assert plain.body["max_tokens"] == 55 and plain.body["temperature"] == 0.25 and plain.body["stream"] is False
    assert streamed.body["stream"] is True and streamed.header("accept") == "text/event-stream"


def test_gemini_request_shape(studio_home):
    with FakeGemini(key=KEY) as fake:
        llm = Vendor(KITS["gemini"], fake, str(studio_home)).llm()
        llm.complete(MESSAGES, max_tokens=55, temperature=0.25)
        llm.complete(MESSAGES, on_token=lambda _: None)
    plain, streamed = fake.requests_to("chat")
    assert plain.path == "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert plain.header("x-goog-api-key") == KEY and "key" not in plain.query  # never in the URL
    assert plain.body["systemInstruction"]["parts"] == [{"text": "You are Ada, a calm guide."}]
    assert [(c["role"], c["parts"][0]["text"]) for c in plain.body["contents"]] == [
        ("user", "Hello!"), ("model", "Hi, how can I help?"), ("user", "Tell me about the stars.")]
    config = plain.body["generationConfig"]
    assert config["maxOutputTokens"] == 55 and config["temperature"] == 0.25
    # Flash thinking would eat max_tokens. (The SDK sends the proto field name, which the API accepts.)
    assert config["thinkingConfig"] in ({"thinkingBudget": 0}, {"thinking_budget": 0})
    assert streamed.path.endswith(":streamGenerateContent") and streamed.query == {"alt": ["sse"]}


# -- keys ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(KITS))
def test_missing_key_names_the_variable(name, studio_home):
    env = {"AVATAR_STUDIO_HOME": str(studio_home)}  # OpenAI: its own default base URL
    with pytest.raises(MissingKey, match=KITS[name].key_variable):
        get_llm(resolve(env, dotenv=False), name)


def test_self_hosted_openai_compatible_server_needs_no_key(studio_home):
    with FakeOpenAI(key=None) as fake:
        env = {"AVATAR_STUDIO_HOME": str(studio_home), "OPENAI_BASE_URL": fake.base_url, "OPENAI_MODEL": "llama3.2"}
        llm = get_llm(resolve(env, dotenv=False), "openai")
        assert llm.complete(MESSAGES).text == fake.answer
        assert llm.context_window == 131_072
    assert "authorization" not in fake.requests[0].headers


def test_wrong_key_is_auth_failed_naming_the_variable_and_never_echoing_the_key(vendor):
    with pytest.raises(AuthFailed) as caught:
        vendor.llm(**{vendor.kit.key_variable: "sk-wrong-9876543210zyxwvuSECRET"}).complete(MESSAGES)
    message = one_line(caught.value)
    assert vendor.kit.key_variable in message and "rejected the API key" in message
    assert "9876543210" not in message and "[redacted]" in message  # the fakes echo the key they got
    assert len(vendor.fake.requests) == 1  # not retried


def test_plain_401_is_auth_failed(vendor):
    vendor.fake.script("chat", vendor.fake.failure(401))
    with pytest.raises(AuthFailed, match=f"HTTP 401.*{vendor.kit.key_variable}"):
        vendor.llm().complete(MESSAGES)


def test_the_key_never_reaches_an_error_message(vendor):
    fake = vendor.fake
    half_masked = KEY[:12] + "*" * 10 + KEY[-6:]
    fake.script("chat", fake.failure(400, f"bad request from key {KEY}"), fake.failure(500, f"oops {half_masked}"),
                Reply.text(f"<html>{KEY}</html>", content_type="application/json"),
                fake.failure(402, f"no credit left for {KEY}"))
    llm = vendor.llm(AVATAR_STUDIO_LLM_RETRIES="0")
    seen = []
    for _ in range(4):
        with pytest.raises(RemoteError) as caught:
            llm.complete(MESSAGES)
        seen.append(caught.value)
    assert [type(e) for e in seen[:2]] == [RemoteError, RemoteError] and isinstance(seen[3], OutOfCredit)
    for error in seen:
        text = f"{error} {error!r} {error.args}"
        assert KEY not in text and "0123456789" not in text and "SECRET" not in text, text
    assert KEY not in repr(llm)


# -- retries ----------------------------------------------------------------------------------------

def test_429_retry_after_is_honoured_then_success(vendor):
    vendor.fake.script("chat", vendor.fake.failure(429, retry_after=1))
    completion = vendor.llm().complete(MESSAGES)
    assert completion.text == vendor.fake.answer
    first, second = vendor.fake.requests_to("chat")
    assert second.at - first.at >= 1.0


def test_gemini_retry_delay_in_the_429_body_is_honoured(studio_home):
    with FakeGemini(key=KEY) as fake:
        fake.script("chat", fake.rate_limited(1))
        assert Vendor(KITS["gemini"], fake, str(studio_home)).llm().complete(MESSAGES).text == fake.answer
        first, second = fake.requests_to("chat")
    assert second.at - first.at >= 1.0


def test_429_forever_gives_up_after_the_configured_attempts(vendor):
    vendor.fake.script("chat", *[vendor.fake.failure(429, "Requests rate limit exceeded")] * 3)
    with pytest.raises(RateLimited) as caught:
        vendor.llm(AVATAR_STUDIO_LLM_RETRIES="2").complete(MESSAGES)
    assert "after 3 attempts" in str(caught.value) and "Requests rate limit exceeded" in str(caught.value)
    assert len(vendor.fake.requests_to("chat")) == 3 and vendor.fake.pending("chat") == 0


def test_retry_after_beyond_the_cap_fails_at_once_saying_when(vendor):
    vendor.fake.script("chat", vendor.fake.failure(429, retry_after=3600))
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        vendor.llm().complete(MESSAGES)
    assert time.monotonic() - started < 5 and len(vendor.fake.requests) == 1
    assert caught.value.retry_after == 3600 and "try again in about 60 minutes" in str(caught.value)


def test_server_error_then_success(vendor):
    vendor.fake.script("chat", vendor.fake.failure(500), vendor.fake.failure(503))
    chunks: list[str] = []
    completion = vendor.llm().complete(MESSAGES, on_token=chunks.append)  # streamed calls retry too
    assert completion.text == "".join(chunks) == vendor.fake.answer
    assert len(vendor.fake.requests_to("chat")) == 3


def test_server_error_forever_says_server_error_and_attempts(vendor):
    vendor.fake.script("chat", *[vendor.fake.failure(503, "overloaded, try later")] * 2)
    with pytest.raises(RemoteError, match=r"after 2 attempts.*server error \(HTTP 503\).*overloaded"):
        vendor.llm(AVATAR_STUDIO_LLM_RETRIES="1").complete(MESSAGES)


def test_out_of_credit_is_not_retried(vendor):
    vendor.fake.script("chat", vendor.fake.failure(402, "Your credit balance is too low"))
    with pytest.raises(OutOfCredit, match="out of credit.*balance is too low"):
        vendor.llm().complete(MESSAGES)
    assert len(vendor.fake.requests) == 1


def test_slow_server_times_out_then_retry_succeeds(vendor):
    vendor.fake.script("chat", delayed(2.0, vendor.fake.success()))
    completion = vendor.llm(timeout_s=0.4).complete(MESSAGES)
    assert completion.text == vendor.fake.answer and len(vendor.fake.requests_to("chat")) == 2


def test_slow_server_every_time_is_remote_timeout(vendor):
    vendor.fake.script("chat", *[delayed(2.0, vendor.fake.success())] * 2)
    started = time.monotonic()
    with pytest.raises(RemoteTimeout, match=r"after 2 attempts.*did not answer within 0.4 s"):
        vendor.llm(timeout_s=0.4, AVATAR_STUDIO_LLM_RETRIES="1").complete(MESSAGES, on_token=lambda _: None)
    assert time.monotonic() - started < 2.0


def test_unreachable_server_is_a_remote_error_after_retries(vendor):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    url = closed + ("/v1" if vendor.kit.name == "openai" else "")
    with pytest.raises(RemoteError, match=r"after 2 attempts: Could not talk to .*check the network and the base URL"):
        vendor.llm(**{vendor.kit.url_variable: url, "AVATAR_STUDIO_LLM_RETRIES": "1"}).complete(MESSAGES)


# -- malformed answers ---------------------------------------------------------------------------------

def test_malformed_body_is_a_remote_error(vendor):
    vendor.fake.script("chat", vendor.fake.malformed())
    with pytest.raises(RemoteError, match="answer from .* was malformed") as caught:
        vendor.llm().complete(MESSAGES)
    assert type(caught.value) is RemoteError and len(vendor.fake.requests) == 1


def test_json_without_the_answer_is_malformed(vendor):
    vendor.fake.script("chat", Reply.json({"id": "x", "object": "chat.completion", "usage": {}}))
    with pytest.raises(RemoteError, match="malformed"):
        vendor.llm().complete(MESSAGES)


def test_broken_stream_event_is_malformed(vendor):
    vendor.fake.script("chat", Reply.sse(["{not json"]))
    with pytest.raises(RemoteError, match="malformed"):
        vendor.llm().complete(MESSAGES, on_token=lambda _: None)


def test_stream_failing_midway_is_not_replayed(vendor):
    vendor.fake.script("chat", vendor.fake.broken_stream(2, "upstream model crashed"))
    chunks: list[str] = []
    with pytest.raises(RemoteError, match="upstream model crashed.*broke off after 2 chunks"):
        vendor.llm().complete(MESSAGES, on_token=chunks.append)
    assert len(chunks) == 2 and len(vendor.fake.requests) == 1  # a retry would repeat the two chunks


def test_an_on_token_failure_is_the_callers_own_and_not_retried(vendor):
    def on_token(piece: str) -> None:
        raise ValueError("the caller's callback broke")

    with pytest.raises(ValueError, match="the caller's callback broke"):
        vendor.llm().complete(MESSAGES, on_token=on_token)
    assert len(vendor.fake.requests) == 1


def test_stream_generator_reraises_the_backend_error(vendor):
    vendor.fake.script("chat", vendor.fake.failure(401))
    with pytest.raises(AuthFailed):
        list(vendor.llm().stream(MESSAGES))


# -- pipeline.remote on its own ---------------------------------------------------------------------

def test_parse_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("30") == 30 and parse_retry_after(" 1.5 ") == 1.5 and parse_retry_after("-3") == 0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 110 <= parse_retry_after(soon) <= 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("") is None


@pytest.mark.parametrize("body, expected", [
    ({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}, "Incorrect API key"),
    ({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
     "Quota exceeded (RESOURCE_EXHAUSTED)"),
    ([{"error": {"code": 500, "message": "Internal", "status": "INTERNAL"}}], "Internal (INTERNAL)"),
    ({"message": "Unauthorized", "request_id": "x"}, "Unauthorized"),
    ({"detail": "Unauthorized"}, "Unauthorized"),
    ({"detail": [{"loc": ["body", "model"], "msg": "field required"}]}, "field required"),
    ({"error": "model not found"}, "model not found"),
    (b'{"message": "bytes work"}', "bytes work"),
    ("<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
    ("", ""),
])
def test_vendor_message_understands_the_common_shapes(body, expected):
    assert vendor_message(body) == expected


@pytest.mark.parametrize("status, said, retry_after, kind, words", [
    (401, "Unauthorized", None, AuthFailed, "Mistral rejected the API key (HTTP 401) — check MISTRAL_API_KEY"),
    (400, "API key not valid. Please pass a valid API key.", None, AuthFailed, "rejected the API key (HTTP 400)"),
    (403, "Permission denied", None, AuthFailed, "refused access (HTTP 403)"),
    (402, "Payment required", None, OutOfCredit, "out of credit (HTTP 402)"),
    (429, "You exceeded your current quota, please check your plan and billing details", None, OutOfCredit,
     "quota or credit is used up (HTTP 429)"),
    (429, "You exceeded your current quota, please check your plan and billing details", 20.0, RateLimited,
     "rate limiting requests (HTTP 429, asking to wait 20 s)"),
    (429, "Too many requests", None, RateLimited, "rate limiting requests (HTTP 429)"),
    (503, "Service unavailable", None, RemoteError, "Mistral had a server error (HTTP 503)"),
    (404, "Model not found", None, RemoteError, "no such model or endpoint"),
    (400, "max_tokens too large", None, RemoteError, "rejected the request (HTTP 400): max_tokens too large"),
])
def test_error_for_status_words_each_case(status, said, retry_after, kind, words):
    error = error_for_status("Mistral", status, said, retry_after=retry_after, key_variable="MISTRAL_API_KEY")
    assert type(error) is kind and words in str(error) and said in str(error)


def test_redact_removes_whole_and_partial_keys():
    text = redact(f"key {KEY} or {KEY[:10]}****{KEY[-6:]} and Bearer {KEY}", [KEY, None, ""])
    assert "0123" not in text and "SECRET" not in text and text.count("[redacted]") == 4


def test_retry_policy_backs_off_with_jitter_and_honours_retry_after():
    outcomes = [RemoteTimeout("slow"), error_for_status("X", 500, "boom"), RateLimited("wait", 7.0), "done"]
    sleeps: list[float] = []

    def attempt():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(retries=3, base_delay_s=1.0, max_delay_s=1.5)
    assert policy.call(attempt, what="test", sleep=sleeps.append) == "done"
    assert 0.5 <= sleeps[0] <= 1.0 and 0.75 <= sleeps[1] <= 1.5 and sleeps[2] == 7.0


def test_retry_policy_does_not_retry_what_a_retry_cannot_fix():
    calls = []

    def attempt():
        calls.append(1)
        raise AuthFailed("no")

    with pytest.raises(AuthFailed):
        RetryPolicy(retries=5).call(attempt, what="test", sleep=lambda s: None)
    assert len(calls) == 1


def test_openai_own_host_gets_its_key_and_max_completion_tokens(studio_home):
    # OpenAI's host cannot be faked on 127.0.0.1; the injected client's transport is the seam here.
    seen: list[httpx.Request] = []

    def openai(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                                      "finish_reason": "stop"}],
                                         "usage": {"prompt_tokens": 3, "completion_tokens": 1}})

    llm = OpenAICompatLLM(base_url="https://api.openai.com/v1", model="gpt-4o-mini", api_key=KEY,
                          client=httpx.Client(transport=httpx.MockTransport(openai)))
    completion = llm.complete(MESSAGES, max_tokens=40)
    assert (completion.text, completion.model) == ("hi", "gpt-4o-mini-2024-07-18")
    body = json.loads(seen[0].content)
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert body["max_completion_tokens"] == 40 and "max_tokens" not in body
    with pytest.raises(MissingKey, match="OPENAI_API_KEY"):
        OpenAICompatLLM(base_url="https://api.openai.com/v1", model="gpt-4o-mini")


def test_gemini_blocked_prompt_says_so(studio_home):
    with FakeGemini(key=KEY) as fake:
        fake.script("chat", Reply.json({"promptFeedback": {"blockReason": "SAFETY"},
                                        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}))
        with pytest.raises(RemoteError, match=r"Gemini refused the prompt \(blocked: SAFETY\)"):
            Vendor(KITS["gemini"], fake, str(studio_home)).llm().complete(MESSAGES)
        assert len(fake.requests) == 1
