"""Benchmark: a persona's knowledge — ingest speed, query latency and retrieval quality.

The documents are ones this project did not write: pydoc's plain-text documentation of Python
standard-library modules, rendered on this machine. Three measures, on a fresh data folder each:

* **ingest** — ``Knowledge.add`` (read, chunk, embed, store in FTS5 and sqlite-vec, one
  transaction per file) of a ~1 MB and a ~20 MB corpus of those documents, as text files; figures
  in MB/s and pages/s, a page being 3,000 characters (about 500 words). A real PDF is timed too:
  ``--pdf-pages`` pages made with fpdf2 from the same text, to show what PDF text extraction costs.
* **query latency** — hybrid ``search`` (BM25 + vectors, fused) of the question set's questions,
  warm (after one round), k = 5: p50 and p95 in milliseconds, at each corpus size.
* **quality** — recall@5 on ``tests/data/stdlib_questions.json`` (36 questions, each answered in
  one module's document) for hybrid, BM25 only and vectors only; and small talk ("hi", "thanks!",
  …): how many of ``SMALL_TALK`` still got passages (the relevance floor should leave none) and
  how close the closest came (``pipeline.knowledge.relevance.VECTOR_FLOOR`` must stay above it).

    .venv/bin/python bench/knowledge.py [--sizes 1 20] [--pdf-pages 40] [--json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import pydoc
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE_CHARS = 3000
QUESTIONS = json.loads((ROOT / "tests" / "data" / "stdlib_questions.json").read_text())
SMALL_TALK = ["hi", "hi!", "hello", "hey there", "thanks!", "thank you", "how are you?", "ok", "okay", "good morning",
              "bye", "yes", "no", "cool", "great, thanks", "who are you?", "what's up?", "lol", "nice", "sure"]


def module_docs() -> dict[str, str]:
    """pydoc's text for as many standard-library modules as import quietly here, question set first."""
    names = list(QUESTIONS["modules"]) + sorted(
        info.name for info in pkgutil.iter_modules() if not info.name.startswith("_") and info.name.isidentifier())
    docs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in dict.fromkeys(names):
            if name in ("antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"):
                continue
            try:
                module = importlib.import_module(name)
                module_file = getattr(module, "__file__", "") or ""
                if "site-packages" in module_file:  # the standard library only
                    continue
                docs[name] = pydoc.render_doc(module, renderer=pydoc.plaintext)
            except BaseException:  # noqa: BLE001 - a module that will not import or render is skipped
                continue
    return docs


def corpus(folder: Path, docs: dict[str, str], megabytes: float) -> list[Path]:
    """Text files of module documentation adding up to ``megabytes``, question-set modules first;
    repeated under new names when the standard library runs out."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, total, round_ = [], 0, 0
    while total < megabytes * 1e6:
        for name, text in docs.items():
            path = folder / (f"{name}.txt" if round_ == 0 else f"{name}-{round_}.txt")
            path.write_text(text)
            paths.append(path)
            total += len(text.encode())
            if total >= megabytes * 1e6:
                break
        round_ += 1
    return paths


def settings_in(folder: Path):
    from pipeline.settings import resolve

    return resolve({"AVATAR_STUDIO_HOME": str(folder / "home")}, dotenv=False)


def ingest(files: list[Path], home: Path) -> dict:
    from pipeline.knowledge import Knowledge

    knowledge = Knowledge(settings_in(home))
    chars = sum(len(path.read_text()) for path in files)
    began = time.perf_counter()
    added = knowledge.add("adam", files)
    seconds = time.perf_counter() - began
    assert all(item.ok for item in added), [item.error for item in added if not item.ok][:3]
    return {"files": len(files), "mb": round(chars / 1e6, 2), "passages": sum(item.source.chunks for item in added),
            "seconds": round(seconds, 2), "mb_per_s": round(chars / 1e6 / seconds, 2),
            "pages_per_s": round(chars / PAGE_CHARS / seconds, 1), "knowledge": knowledge}


def latency(knowledge, rounds: int = 3) -> dict:
    questions = [item["q"] for item in QUESTIONS["questions"]]
    for question in questions:  # warm: the model loaded, the pages cached
        knowledge.search("adam", question, 5)
    times = []
    for _ in range(rounds):
        for question in questions:
            began = time.perf_counter()
            knowledge.search("adam", question, 5)
            times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"queries": len(times), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}


def recall(knowledge) -> dict:
    found = {}
    for mode in ("hybrid", "bm25", "vector"):
        hits = 0
        for item in QUESTIONS["questions"]:
            sources = {hit.source for hit in knowledge.search("adam", item["q"], 5, mode=mode)}
            hits += f"{item['module']}.txt" in sources
        found[mode] = round(hits / len(QUESTIONS["questions"]), 3)
    return found


def small_talk(knowledge) -> dict:
    from pipeline.knowledge.embed import embed

    given = [text for text in SMALL_TALK if knowledge.search("adam", text, 5)]
    closest = max(knowledge.store.by_vector("adam", vector, 1)[0][1]
                  for vector in embed(knowledge.settings.cache, SMALL_TALK) if vector.any())
    return {"messages": len(SMALL_TALK), "given_passages": given, "closest_similarity": round(closest, 3)}


def pdf_ingest(folder: Path, text: str, pages: int) -> dict:
    from fpdf import FPDF

    from pipeline.knowledge import Knowledge

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    lines = [line.encode("latin-1", "replace").decode("latin-1") for line in text.splitlines()]
    per_page = 55
    for page in range(pages):
        pdf.add_page()
        for line in lines[page * per_page:(page + 1) * per_page] or ["(end)"]:
            pdf.cell(0, 4.5, line[:110], new_x="LMARGIN", new_y="NEXT")
    path = folder / "stdlib.pdf"
    pdf.output(str(path))
    knowledge = Knowledge(settings_in(folder / "pdf"))
    began = time.perf_counter()
    [added] = knowledge.add("adam", [path])
    seconds = time.perf_counter() - began
    assert added.ok, added.error
    return {"pages": pages, "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 1),
            "passages": added.source.chunks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 20], help="corpus sizes in MB")
    parser.add_argument("--pdf-pages", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    docs = module_docs()
    report = {"cores": os.cpu_count(), "load": os.getloadavg()[0], "modules": len(docs), "corpora": []}
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as scratch:
        scratch = Path(scratch)
        for size in args.sizes:
            files = corpus(scratch / f"corpus-{size:g}", docs, size)
            result = ingest(files, scratch / f"run-{size:g}")
            knowledge = result.pop("knowledge")
            result.update(latency(knowledge))
            if size == args.sizes[0]:
                report["recall_at_5"] = recall(knowledge)
                report["small_talk"] = small_talk(knowledge)
            report["corpora"].append(result)
        report["pdf"] = pdf_ingest(scratch, "\n".join(docs.values()), args.pdf_pages)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['cores']} cores, load {report['load']:.2f}; {report['modules']} standard-library modules' docs")
    for row in report["corpora"]:
        print(f"{row['mb']:>6} MB  {row['files']:>4} files  {row['passages']:>6} passages  ingest {row['seconds']} s "
              f"({row['mb_per_s']} MB/s, {row['pages_per_s']} pages/s)  query p50 {row['p50_ms']} ms, "
              f"p95 {row['p95_ms']} ms")
    pdf = report["pdf"]
    print(f"PDF: {pdf['pages']} pages in {pdf['seconds']} s ({pdf['pages_per_s']} pages/s), {pdf['passages']} passages")
    print("recall@5:", ", ".join(f"{mode} {value}" for mode, value in report["recall_at_5"].items()))
    talk = report["small_talk"]
    print(f"small talk: {len(talk['given_passages'])} of {talk['messages']} got passages"
          f"{' (' + ', '.join(talk['given_passages']) + ')' if talk['given_passages'] else ''}; "
          f"closest vector similarity {talk['closest_similarity']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
