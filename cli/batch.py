"""``batch``: render every row of a CSV or YAML file (``pipeline/batch.py``), and list batches.

One progress bar for the whole batch on stderr; at the end one line (or ``--json``: one object)
with how many rows are done and failed, and each failed row's message. Ctrl-C (or SIGTERM) stops
the batch: the rows being rendered are interrupted, finished rows are kept, and running the same
command again resumes it. The exit code is 0 when every row is done, 1 when some failed, 130 when
stopped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.batch import BatchRunner, default_concurrency, default_executor, read_batch_file
from pipeline.db.batches import BatchStore
from pipeline.errors import BadInput
from pipeline.settings import resolve

from .output import ProgressBar


def cmd_batch(args) -> int:
    settings = resolve()
    if args.list:
        return _list(settings, args.json)
    if bool(args.file) == bool(args.resume):
        raise BadInput("give a batch file, or --resume BATCH_ID (python app.py batch --list shows them)")
    runner = BatchRunner(settings)
    executor = args.executor or default_executor(settings)
    if executor == "ray":  # connected (or refused, in seconds) before anything is queued
        from pipeline.executors.ray import connect

        connect()
    if args.resume:
        batch, resumed = runner.batches.get(args.resume), True
    else:
        batch_file = read_batch_file(args.file)
        out_dir = Path(args.out_dir) if args.out_dir else batch_file.folder / f"{Path(args.file).stem}-videos"
        batch, resumed = runner.open(batch_file, out_dir=out_dir, executor=executor,
                                     concurrency=args.concurrency or default_concurrency(), new=args.new)
    if resumed:
        counts = runner.batches.counts(batch.id)
        finished = counts.get("done", 0) + counts.get("failed", 0)
        print(f"resuming batch {batch.id}: {finished} of {len(batch.rows)} rows finished"
              + (" (--new renders them all again as a new batch)" if finished == len(batch.rows) else ""),
              file=sys.stderr)
    bar = ProgressBar()
    try:
        report = runner.run(batch.id, executor=args.executor, concurrency=args.concurrency, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        counts = runner.batches.counts(batch.id)
        print(f"stopped: {counts.get('done', 0)} of {len(batch.rows)} rows done; continue with "
              f"`python app.py batch --resume {batch.id}`", file=sys.stderr)
        return 130
    bar.close()
    failed = [state for state in runner.batches.rows(batch.id) if state.status == "failed"]
    if args.json:
        print(json.dumps({**report.to_dict(), "failed": [{"row": s.row, "job_id": s.job_id, "error": s.error}
                                                         for s in failed]}))
    else:
        for state in failed:
            print(f"row {state.row} failed (job {state.job_id}): {state.error}")
        where = f" → {report.batch.out_dir}" if report.batch.out_dir else ""
        print(f"batch {report.batch.id}: {report.counts.get('done', 0)} of {report.total} rows done, "
              f"{len(failed)} failed, in {report.seconds:.1f} s on {report.batch.executor} × "
              f"{report.batch.concurrency}{where}")
    if report.stopped:
        return 130
    return 1 if failed else 0


def _list(settings, as_json: bool) -> int:
    batches = BatchStore(settings.db_path)
    listed = [(batch, batches.counts(batch.id)) for batch in batches.list()]
    if as_json:
        print(json.dumps([{"batch_id": b.id, "name": b.name, "status": b.status, "rows": len(b.rows),
                           "counts": counts, "created_at": b.created_at} for b, counts in listed]))
        return 0
    if not listed:
        print("no batches yet — try: python app.py batch lessons.csv")
    for batch, counts in listed:
        print(f"{batch.id}  {batch.status:<9} {batch.name!r:<28} {counts.get('done', 0)}/{len(batch.rows)} done, "
              f"{counts.get('failed', 0)} failed")
    return 0
