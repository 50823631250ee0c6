"""The local (transformers) LLM backend, with real models.

- The bundled SmolLM2-135M-Instruct GGUF: converted once per session into a session-wide cache
  (``AVATAR_STUDIO_CACHE``), then a short greedy generation, streamed and not, and a second load
  that must come from the cache instead of converting again.
- A tiny Llama (2 layers, hidden size 64, 96-token context) with *random* weights, built and saved
  here with the bundled tokenizer, because real weights for a second model cannot be had offline.
  Its text is nonsense; what is tested is loading by path, ``max_tokens``, the context limit,
  concurrent callers and cancellation.
- Models that cannot be had: a missing path, a folder that holds no model, an unknown model id
  with no hub to ask.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from pipeline.errors import BackendUnavailable, BadInput
from pipeline.llm import get_llm
from pipeline.llm.local import BUNDLED_MODEL, unload_all
from pipeline.settings import resolve

GREETING = [{"role": "system", "content": "You are a cheerful assistant."},
            {"role": "user", "content": "Say hello in one sentence."}]
TINY_CONTEXT = 96


def _settings(tmp_path_factory, cache, **env):
    home = tmp_path_factory.mktemp("home")
    return resolve({"AVATAR_STUDIO_HOME": str(home), "AVATAR_STUDIO_CACHE": str(cache), **env}, dotenv=False)


@pytest.fixture(scope="session")
def llm_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("llm-cache")


@pytest.fixture(scope="session")
def bundled(tmp_path_factory, llm_cache):
    """The bundled model through settings and the registry, loaded (converted) once per session."""
    unload_all()  # a model loaded by another test file would hide the conversion
    llm = get_llm(_settings(tmp_path_factory, llm_cache), "local")
    steps: list[tuple[float, str]] = []
    started = time.perf_counter()
    llm.load(progress=lambda fraction, message: steps.append((fraction, message)))
    return SimpleNamespace(llm=llm, steps=steps, load_s=time.perf_counter() - started, cache=llm_cache)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, bundled):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = bundled.llm.load().tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=TINY_CONTEXT,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny(tiny_model, settings):
    return get_llm(settings, "local", str(tiny_model))


# -- the bundled model -------------------------------------------------------------------------
def test_bundled_model_converts_once_reporting_progress(bundled):
    llm = bundled.llm
    assert llm.model == BUNDLED_MODEL and llm.name == "local"
    fractions = [fraction for fraction, _ in bundled.steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("converting SmolLM2-135M-Instruct.Q4_1.gguf" in message for _, message in bundled.steps)
    converted = list((bundled.cache / "llm").iterdir())
    assert [path.name.startswith("SmolLM2-135M-Instruct.Q4_1-") for path in converted] == [True]  # no scratch
    assert (converted[0] / "model.safetensors").is_file() and (converted[0] / "tokenizer.json").is_file()
    assert llm.describe() == {"backend": "local", "model": BUNDLED_MODEL, "context_window": 8192,
                              "device": "cpu", "loaded_from": str(converted[0])}
    assert llm.count_tokens("Hello there, how are you?") == 7


def test_bundled_model_greedy_reply_streams_and_repeats(bundled):
    chunks: list[str] = []
    reply = bundled.llm.complete(GREETING, max_tokens=12, temperature=0, on_token=chunks.append)
    assert reply.text.strip() and "".join(chunks) == reply.text and len(chunks) > 1
    assert reply.tokens_out == 12 and reply.finish_reason == "length"  # a greeting takes more than 12 tokens
    assert reply.tokens_in > bundled.llm.count_tokens(GREETING[0]["content"] + GREETING[1]["content"])
    assert 0 < reply.first_token_s < reply.latency_s
    assert (reply.backend, reply.model) == ("local", BUNDLED_MODEL)

    streamed = list(bundled.llm.stream(GREETING, max_tokens=12, temperature=0))
    assert "".join(streamed) == reply.text  # greedy: the same words again
    assert bundled.llm.last.text == reply.text


def test_bundled_model_stops_at_the_end_of_its_turn(bundled):
    reply = bundled.llm.complete([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"}],
                                 max_tokens=64, temperature=0)
    assert reply.finish_reason == "stop" and 0 < reply.tokens_out < 64
    assert reply.text.strip() and "<|im" not in reply.text


def test_second_load_comes_from_the_cache(bundled, tmp_path_factory):
    unload_all()
    llm = get_llm(_settings(tmp_path_factory, bundled.cache), "local")
    steps: list[str] = []
    started = time.perf_counter()
    llm.load(progress=lambda fraction, message: steps.append(message))
    seconds = time.perf_counter() - started
    assert not any("converting" in message for message in steps)
    assert any("converted copy in the cache" in message for message in steps)
    assert seconds < bundled.load_s / 3  # ~1 s against ~25 s for the conversion
    assert len(list((bundled.cache / "llm").iterdir())) == 1


# -- a tiny random model loaded by path ---------------------------------------------------------
def test_tiny_model_loads_by_path_and_respects_max_tokens(tiny, tiny_model):
    assert tiny.context_window == TINY_CONTEXT  # read from its config.json, before loading
    reply = tiny.complete([{"role": "user", "content": "Hello"}], max_tokens=5, temperature=0)
    assert (reply.tokens_out, reply.finish_reason) == (5, "length") and reply.model == str(tiny_model)
    sampled = tiny.complete([{"role": "user", "content": "Hello"}], max_tokens=5, temperature=1.0)
    assert 1 <= sampled.tokens_out <= 5
    assert tiny.describe()["loaded_from"] == str(tiny_model)


def test_tiny_model_serves_two_threads_at_once(tiny):
    question = [{"role": "user", "content": "Tell me a story"}]
    alone = tiny.complete(question, max_tokens=8, temperature=0)
    results: dict[int, object] = {}

    def ask(index: int) -> None:
        results[index] = tiny.complete(question, max_tokens=8, temperature=0)

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [results[index].text for index in range(2)] == [alone.text, alone.text]


def test_a_prompt_longer_than_the_context_is_refused_in_words(tiny):
    long_story = " ".join(["word"] * 200)
    with pytest.raises(BadInput, match=rf"tokens long but .* reads at most {TINY_CONTEXT} tokens.*drop older messages"):
        tiny.complete([{"role": "user", "content": long_story}], max_tokens=5)
    # Nearly full: the reply is cut to the room that is left.
    prompt = [{"role": "user", "content": " ".join(["word"] * 40)}]
    reply = tiny.complete(prompt, max_tokens=50, temperature=0)
    assert reply.tokens_in + reply.tokens_out == TINY_CONTEXT and reply.finish_reason == "length"


def test_an_on_token_error_stops_generation_and_is_raised(tiny):
    class Enough(Exception):
        pass

    def on_token(chunk: str) -> None:
        raise Enough(chunk)

    with pytest.raises(Enough):
        tiny.complete([{"role": "user", "content": "Hello"}], max_tokens=40, temperature=0, on_token=on_token)
    assert tiny.complete([{"role": "user", "content": "Hello"}], max_tokens=3, temperature=0).tokens_out == 3


def test_max_tokens_must_be_positive(tiny):
    with pytest.raises(BadInput, match="max_tokens must be at least 1"):
        tiny.complete([{"role": "user", "content": "Hello"}], max_tokens=0)


# -- models that cannot be had --------------------------------------------------------------------
def test_a_missing_path_is_unavailable_with_the_fix(settings, tmp_path):
    with pytest.raises(BackendUnavailable, match=r"does not exist.*set LOCAL_LLM_MODEL to a local folder"):
        get_llm(settings, "local", str(tmp_path / "no-such-model")).load()


def test_a_folder_without_a_model_is_unavailable(settings, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(BackendUnavailable, match="holds neither a transformers model"):
        get_llm(settings, "local", str(tmp_path)).load()


def test_a_broken_gguf_leaves_no_half_cache(settings, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00truncated")
    with pytest.raises(BackendUnavailable, match="could not convert broken.gguf"):
        get_llm(settings, "local", str(broken)).load()
    # The cache is shared by the whole test run (conftest): only the broken model's entry must be absent.
    assert [p.name for p in (settings.cache / "llm").iterdir() if "broken" in p.name] == []


def test_an_unknown_model_id_offline_is_unavailable_quickly(tmp_path_factory, tmp_path):
    settings = _settings(tmp_path_factory, tmp_path, LOCAL_LLM_MODEL="avatar-studio-tests/no-such-model")
    llm = get_llm(settings, "local")
    started = time.perf_counter()
    with pytest.raises(BackendUnavailable) as caught:
        llm.load()
    message = str(caught.value)
    # Offline (as here) the hub cannot be reached; online it says there is no such model.
    assert "'avatar-studio-tests/no-such-model'" in message and "Hugging Face hub" in message
    assert "set LOCAL_LLM_MODEL to a local folder" in message
    assert time.perf_counter() - started < 15  # one request, not huggingface_hub's retry loop
