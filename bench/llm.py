"""Benchmark: the local LLM backend (the bundled SmolLM2-135M-Instruct) on this machine.

Measures, each in a fresh process so load times and peak memory are its own:

* cold   — the first start on a machine: the GGUF converted into the safetensors cache, then loaded;
* cached — a later start: the converted copy loaded from the cache (plus the torch/transformers
           import, shown apart);
* chat   — a typical chat turn: a persona-sized system prompt (~300 tokens) and a question, a
           greedy reply of up to 128 tokens, streamed: time to the first token and tokens per
           second (whole reply, and decoding alone after the first token).

Medians of ``--repeat`` runs (3); chat turns are measured in one process after one warm-up turn.

    .venv/bin/python bench/llm.py [--repeat 3] [--max-tokens 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PERSONA = """You are Professor Lin Okafor, a strategy professor who has taught MBA students for twenty
years and advised a handful of mid-sized manufacturers. You speak in short, clear sentences, like a
good lecturer on video: one idea at a time, concrete examples, no jargon unless you define it first.
You are warm but direct; when a student's idea is weak you say so kindly and explain why.

Your core beliefs: profit matters more than market share; a company wins by building capabilities
that rivals cannot easily copy; price wars destroy value for everyone; growth for its own sake is a
trap. You like examples from retail, airlines, steel and software, and you often contrast two firms
in the same industry that chose different paths.

How you answer: start with the direct answer in one or two sentences, then give one example, then
one question the student should ask about their own business. Keep answers under 150 words unless
asked for more. Never invent statistics; if you are unsure of a number, say so. Do not give legal,
tax or investment advice; suggest a professional instead. If the question is off-topic, answer
briefly and steer back to strategy.

You are speaking through an animated avatar, so write for the ear: no bullet points, no tables, no
headings, no emoji, and no stage directions. Spell out numbers that would be awkward to read aloud.
Use contractions. End with a short question to keep the conversation going."""

QUESTION = "Our startup sells project-management software. Should we cut our price in half to win market share?"


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def _backend(cache: Path):
    began = time.perf_counter()
    import torch  # noqa: F401 - timed here so the load figures below exclude it
    import transformers  # noqa: F401

    from pipeline.llm.local import LocalLLM

    return LocalLLM(cache_dir=cache), time.perf_counter() - began


def phase_load(cache: Path, max_tokens: int) -> dict:
    llm, import_s = _backend(cache)
    began = time.perf_counter()
    loaded = llm.load()
    return {"import_s": round(import_s, 2), "load_s": round(time.perf_counter() - began, 2),
            "peak_rss_mb": _peak_mb(), "device": loaded.device}


def phase_chat(cache: Path, max_tokens: int, turns: int = 3) -> dict:
    import torch

    llm, _ = _backend(cache)
    llm.load()
    messages = [{"role": "system", "content": PERSONA}, {"role": "user", "content": QUESTION}]
    llm.complete(messages, max_tokens=8, temperature=0)  # warm-up: first-call allocations, thread pools
    runs = []
    for _ in range(turns):
        reply = llm.complete(messages, max_tokens=max_tokens, temperature=0, on_token=lambda chunk: None)
        decode_s = reply.latency_s - reply.first_token_s
        runs.append({"first_token_s": reply.first_token_s, "latency_s": reply.latency_s,
                     "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out,
                     "tok_per_s": round(reply.tokens_out / reply.latency_s, 1),
                     "decode_tok_per_s": round((reply.tokens_out - 1) / decode_s, 1) if decode_s > 0 else None,
                     "finish_reason": reply.finish_reason})
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("first_token_s", "latency_s", "tok_per_s", "decode_tok_per_s", "tokens_out")}
    return {**median, "tokens_in": runs[0]["tokens_in"], "system_prompt_tokens": llm.count_tokens(PERSONA),
            "finish_reason": runs[0]["finish_reason"], "reply": reply.text, "runs": runs, "peak_rss_mb": _peak_mb(),
            "threads": torch.get_num_threads()}


PHASES = {"load": phase_load, "chat": phase_chat}


def _run_phase(phase: str, cache: Path, max_tokens: int) -> dict:
    output = subprocess.run([sys.executable, __file__, "--phase", phase, "--cache", str(cache),
                             "--max-tokens", str(max_tokens)], check=False, capture_output=True, text=True,
                            env=os.environ)
    if output.returncode:
        sys.exit(f"{phase} failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict], key: str) -> dict:
    return sorted(runs, key=lambda run: run[key])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase; medians are reported")
    parser.add_argument("--max-tokens", type=int, default=128, help="reply length cap for the chat turn")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](Path(args.cache), args.max_tokens)))
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as workdir:
        colds = []
        for index in range(args.repeat):  # each into its own empty cache: a real first start
            colds.append(_run_phase("load", Path(workdir) / f"cold-{index}", args.max_tokens))
        cache = Path(workdir) / "cold-0"
        cached = [_run_phase("load", cache, args.max_tokens) for _ in range(args.repeat)]
        chat = _run_phase("chat", cache, args.max_tokens)
        cache_mb = round(sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**20, 1)
    results = {"cold": _median_run(colds, "load_s"), "cached": _median_run(cached, "load_s"), "chat": chat,
               "cache_mb": cache_mb, "cores": os.cpu_count(),
               "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}  # other work skews it all
    if args.json:
        print(json.dumps(results, indent=1))
        return
    cold, warm = results["cold"], results["cached"]
    print(f"local LLM, bundled SmolLM2-135M-Instruct (Q4_1 GGUF), {cold['device']}, {os.cpu_count()} cores, "
          f"{chat['threads']} torch threads, median of {args.repeat}; load average "
          f"{results['load_average'][0]} before, {results['load_average'][1]} after")
    print(f"  import torch+transformers : {warm['import_s']:.2f} s")
    print(f"  cold load (convert)       : {cold['load_s']:.2f} s, peak RSS {cold['peak_rss_mb']} MB")
    print(f"  cached load               : {warm['load_s']:.2f} s, peak RSS {warm['peak_rss_mb']} MB "
          f"(cache {cache_mb} MB on disk)")
    print(f"  chat turn                 : {chat['tokens_in']} tokens in (system prompt "
          f"{chat['system_prompt_tokens']}), {chat['tokens_out']} out ({chat['finish_reason']})")
    print(f"  first token               : {chat['first_token_s']:.2f} s")
    print(f"  speed                     : {chat['tok_per_s']} tok/s overall, {chat['decode_tok_per_s']} tok/s decoding")
    print(f"  whole reply               : {chat['latency_s']:.2f} s, peak RSS {chat['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
