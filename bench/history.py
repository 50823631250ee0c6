"""Benchmark: the History tab's queries over 100 000 jobs.

Fills a fresh ``studio.db`` (built by the real migrations, so with m005's indexes, FTS table and
triggers) with ``--rows`` realistic jobs — a year of renders, mostly embedded with some HeyGen and
D-ID, ~88 % done, scripts of 8–40 words, full JSON columns (controls, evidence, timings) — then
times what the tab does, through the data layer's own ``pipeline.db.list_jobs`` and ``job_stats``:

* first page      — newest 20 jobs, no filter (what opening the tab shows)
* status page     — ``status=failed``: a filter with an index ending in created_at
* two filters     — ``persona=adam, backend=heygen``
* text (common)   — "quarterly" (in ~2 % of scripts) via the FTS5 trigram index
* text (very common) — "ion" (in two thirds of the scripts)
* text (rare)     — a job id fragment matching one job
* text (2 chars)  — too short for trigrams: the scan fallback
* page 500        — OFFSET 9 980
* stats           — success rate per backend and RTF per backend per day, all jobs and last 30 days
* details         — one job's ``job_details``

Each figure is the median of ``--repeat`` runs after one warm-up (the page cache is warm, as in a
studio that is open), in milliseconds, with the query plan of the page query.

    .venv/bin/python bench/history.py [--rows 100000] [--repeat 7] [--json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("profit market share customers growth team product launch quarter budget pricing strategy focus "
         "deliver results clear simple honest plan risk protect family future savings insurance policy "
         "premium coverage claim trust advice today tomorrow together build learn measure improve every "
         "week month year first second best great good hard easy fast slow careful bold calm happy proud "
         "worried sorry thanks hello welcome meeting question answer numbers story idea vision mission "
         "people partners investors board report update news change decision choice value cost margin").split()
PERSONAS = ("jenniel", "adam", "mia", "raj", "sofia", None)
BACKENDS = (("embedded", 0.85), ("heygen", 0.10), ("did", 0.05))
STATUSES = (("done", 0.88), ("failed", 0.08), ("interrupted", 0.04))
EMOTIONS = ("happy", "sad", "angry", "fearful", "disgusted", "surprised", "neutral")
ERRORS = ("No face found in the portrait (portrait.png): use a photo where the face is clearly visible",
          "HEYGEN_API_KEY is not set — put it in the environment or in a .env file",
          "D-ID says the account is out of credit (402): top up at studio.d-id.com",
          "The script is empty: type something for the avatar to say")


def _pick(weighted, rng):
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def fake_rows(count: int, rng: random.Random):
    """``count`` job rows, oldest first, spread over the last 365 days."""
    end = dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(days=365)
    step = (end - start) / count
    for index in range(count):
        created = start + step * index
        backend, status = _pick(BACKENDS, rng), _pick(STATUSES, rng)
        words = rng.choices(WORDS, k=rng.randint(8, 40))
        if rng.random() < 0.02:
            words.insert(rng.randrange(len(words)), "quarterly")
        text = " ".join(words).capitalize() + rng.choice(".!?")
        duration = round(len(words) * rng.uniform(0.3, 0.45), 3)
        speed = {"embedded": 0.4, "heygen": 6.0, "did": 4.0}[backend] * rng.uniform(0.7, 1.4)
        timings = {"inputs": 0.2, "speech": round(duration * 0.15, 4), "analysis": 0.02, "emotion": 0.01,
                   "control": 0.001, "render": round(duration * speed, 4), "encode": 0.15}
        emotion = rng.choice(EMOTIONS)
        controls = {name: round(rng.random(), 4) for name in
                    ("blink_rate", "head_tilt", "expression_intensity", "mouth_openness", "eyebrow_raise")}
        job_id = created.strftime("%Y%m%d-%H%M%S-") + f"{rng.getrandbits(24):06x}"
        failed = status != "done"
        yield {
            "id": job_id, "created_at": created.isoformat(timespec="milliseconds"),
            "started_at": created.isoformat(timespec="milliseconds"), "finished_at": created.isoformat(),
            "kind": "render", "persona": rng.choice(PERSONAS), "backend": backend, "text": text,
            "image_path": f"/data/jobs/{job_id}/input/portrait.png", "image_sha256": f"{rng.getrandbits(256):064x}",
            "options": json.dumps({"voice": None, "max_side": 512, "fps": 25, "seed": rng.randint(0, 9),
                                   "emotion": None, "controller": "rules", "llm": "local", "llm_model": None,
                                   "hosted": {}, "image_name": "portrait.png", "audio_name": None}),
            "controls_user": json.dumps({"head_tilt": 0.1} if rng.random() < 0.3 else {}),
            "controls_proposed": json.dumps({**controls, "emotion": emotion}),
            "controls_final": json.dumps({**controls, "emotion": emotion}),
            "controller": "rules",
            "controller_detail": json.dumps({"path": "rules", "reasons": [f"{emotion} leans expression_intensity",
                                                                          "speech energy 0.6 scales mouth_openness"]}),
            "emotion": emotion, "emotion_confidence": round(rng.random(), 3),
            "emotion_evidence": json.dumps({"decision": f"{emotion}: highest score", "method": "text",
                                            "scores": {e: round(rng.random(), 2) for e in EMOTIONS},
                                            "cues": {emotion: [{"cue": rng.choice(WORDS), "weight": 0.6,
                                                                "counted": True}]},
                                            "audio": {"used": False, "energy": 0.6, "arousal": "medium"}}),
            "status": status, "stage": "render" if failed else "encode",
            "error": rng.choice(ERRORS) if failed else None, "error_stage": "render" if failed else None,
            "timings": json.dumps(timings if not failed else {"inputs": 0.2}), "notes": "[]",
            "video_path": None if failed else f"/data/jobs/{job_id}/output.mp4",
            "duration_s": None if failed else duration, "pid": 1234,
        }


def fill(store, count: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    began = time.perf_counter()
    rows = list(fake_rows(count, rng))
    columns = list(rows[0])
    sql = f"insert into jobs ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})"
    with store.connect() as db, db.atomic():
        db.conn.executemany(sql, [[row[c] for c in columns] for row in rows])
    return time.perf_counter() - began


def timed(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - began)
    return round(statistics.median(runs) * 1000, 2), result


def plan(store, query) -> str:
    where, params = query.where()
    sql = (f"select id from jobs where {where} order by created_at desc, rowid desc limit ? offset ?")
    with store.connect() as db:
        rows = db.execute("explain query plan " + sql, [*params, query.page_size, 0]).fetchall()
    return "; ".join(row[-1] for row in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="build the database in this folder and keep it")
    args = parser.parse_args(argv)

    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-history-"))
    os.environ["AVATAR_STUDIO_HOME"] = str(home)
    from pipeline.db import JobQuery, JobStore, job_stats, list_jobs
    from pipeline.history import job_details
    from pipeline.settings import resolve

    settings = resolve(dotenv=False)
    store = JobStore(settings.db_path)
    insert_s = fill(store, args.rows)
    newest = list_jobs(store, JobQuery(page_size=1)).jobs[0]
    id_fragment = newest.job_id[-6:]
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)).date().isoformat()

    queries = {
        "first page": JobQuery(),
        "status page (failed)": JobQuery(status="failed"),
        "two filters (adam, heygen)": JobQuery(persona="adam", backend="heygen"),
        "text (common: quarterly)": JobQuery(text="quarterly"),
        "text (very common: 'ion')": JobQuery(text="ion"),
        "text (rare: id fragment)": JobQuery(text=id_fragment),
        "text (2 chars: 'qu')": JobQuery(text="qu"),
        "text + status (quarterly, failed)": JobQuery(text="quarterly", status="failed"),
        "page 500": JobQuery(page=500),
    }
    results = []

    def record(what: str, ms: float, matches: int | str, plan_: str = "") -> None:
        results.append({"what": what, "ms": ms, "matches": matches, "plan": plan_})

    for name, query in queries.items():
        ms, page = timed(lambda q=query: list_jobs(store, q), args.repeat)
        record(name, ms, page.total, plan(store, query))
    for name, start in (("stats (all jobs)", None), ("stats (last 30 days)", since)):
        ms, stats = timed(lambda s=start: job_stats(store, since=s), args.repeat)
        record(name, ms, f"{len(stats.rtf)} pts")
    ms, _ = timed(lambda: job_details(settings, store.get(newest.job_id)), args.repeat)
    record("details of one job", ms, 1)

    size_mb = sum(p.stat().st_size for p in home.glob("studio.db*")) / 1e6
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)  # ~320 MB at 100 000 jobs
    report = {"rows": args.rows, "insert_s": round(insert_s, 2), "db_mb": round(size_mb, 1),
              "load_average": os.getloadavg()[0], "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{args.rows} jobs inserted in {insert_s:.1f} s (with FTS triggers); database {size_mb:.0f} MB; "
          f"load average {report['load_average']:.2f}")
    print(f"{'query':36} {'median ms':>10} {'matches':>8}  plan")
    for row in results:
        print(f"{row['what']:36} {row['ms']:>10.2f} {row['matches']:>8}  {row['plan']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
