"""How the History tab shows jobs: the table, one job's details, the comparison, the statistics.

The pipeline hands over plain data — a ``JobPage`` of summaries and ``JobStats`` from the data
layer (``pipeline.db``), one job's ``job_details`` dict and a list of ``ComparedField`` from
``pipeline.history`` — and these functions lay it out: Markdown for people to read, and the tables
and plot data the tab's components take (pandas frames), with their headers. No Gradio here, and
no decisions: which jobs exist, what they hold and what may be done with them is the pipeline's.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.db import Job, JobPage, JobStats
from pipeline.history import ComparedField
from pipeline.stages import timings_to_show

TABLE_HEADERS = ["job id", "created (UTC)", "status", "persona", "backend", "script", "length (s)", "error"]
CONTROLS_HEADERS = ["control", "set by you", "proposed", "used"]
COMPARE_HEADERS = ["section", "field", "A", "B", "≠"]
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")
NO_JOB_SHOWN = "Pick a job in the table to see its details."


# -- the table ----------------------------------------------------------------------------------
def jobs_table(found: JobPage) -> pd.DataFrame:
    """One page of jobs as the table shows it, newest first."""
    rows = [[job.job_id, _minute(job.created_at), job.status, job.persona or "", job.backend or "",
             job.text or "", job.duration_s if job.duration_s is not None else "", job.error or ""]
            for job in found.jobs]
    return pd.DataFrame(rows, columns=TABLE_HEADERS)


def page_info(found: JobPage, *, filtered: bool) -> str:
    """"page 2 of 7 · 131 jobs", or why the table is empty."""
    if found.total:
        return f"page {found.page} of {found.pages} · {found.total} job{'s' * (found.total != 1)}"
    return "no jobs match these filters" if filtered else "no jobs yet — render one in the Render lab"


def _minute(timestamp: str) -> str:
    """``2026-11-01 09:00``: a table cell."""
    return timestamp[:16].replace("T", " ")


# -- one job ------------------------------------------------------------------------------------
def details_markdown(details: dict[str, Any]) -> str:
    """The details of one job laid out for reading (the History tab's details panel): a paragraph
    per topic, one fact per line."""
    inputs = details["inputs"]
    sections = [[f"### Job `{details['job_id']}` — {details['status']}",
                 f"{details['backend'] or '?'} renderer · persona {details['persona'] or '—'} · "
                 f"created {_moment(details['created_at'])}"
                 + (f" · row {details['batch']['row']} of batch `{details['batch']['id']}`"
                    if details.get("batch") else "")]]
    if details["error"]:
        sections.append([f"**Error during {details['error']['stage'] or 'the job'}:** {details['error']['message']}"])
    if details["notes"]:
        sections.append(["**Notes**", *(f"· {note}" for note in details["notes"])])
    said = f"script: “{inputs['text']}”" if inputs["text"] else f"recording: {inputs['audio'] or '—'}"
    controller = inputs["controller"] or "rules"
    sections.append(["**Inputs** — " + said,
                     f"portrait {inputs['portrait'] or '—'} · voice {inputs['voice'] or 'default'} · "
                     f"size {inputs['size']} px · seed {inputs['seed']} · controller {controller}"
                     + (f" ({inputs['llm']})" if controller == "llm" else "")
                     + (f" · face enhancer {inputs['enhancer']}" if inputs["enhancer"] else "")
                     + (f" · format {inputs['output_format']} ({inputs['background'] or 'blurred'})"
                        if inputs.get("output_format") not in (None, "as-is") else "")
                     + "".join(f" · {name.replace('_', ' ')} {value}"
                               for name, value in sorted(inputs["renderer_options"].items()))])
    if details["emotion"]:
        emotion = details["emotion"]
        evidence = emotion["evidence"] or {}
        forced = " (set by you)" if inputs["emotion_forced"] else ""
        section = [f"**Emotion** — {emotion['emotion']}{forced}, confidence {emotion['confidence']}"]
        if evidence.get("decision"):
            section.append(f"evidence: {evidence['decision']}")
        cues = [cue["cue"] for found in (evidence.get("cues") or {}).values() for cue in found if cue.get("counted")]
        if cues:
            section.append("cue words: " + ", ".join(dict.fromkeys(cues)))
        sections.append(section)
    chooser = details["controller"]
    if chooser and chooser.get("reasons"):
        sections.append([f"**Why these controls** ({chooser.get('path_taken') or chooser['name']})",
                         *chooser["reasons"]])
    if details["controls_ignored"]:
        sections.append([f"**Ignored by {details['backend']}:** " + ", ".join(details["controls_ignored"])])
    captions = details.get("captions")
    if captions:
        drawn = ", drawn into the video" if captions.get("burned_in") else ""
        sections.append([f"**Captions** — {captions.get('cues')} cues, timed from "
                         f"{CAPTION_SOURCES.get(captions.get('source'), 'the speech')}{drawn}"])
    if details["duration_s"]:
        size = details.get("video_size")
        shape = f", {size[0]}×{size[1]} px" if size else ""
        sections.append([f"**Timing** — {details['duration_s']:.2f} s of video{shape} in {details['work_s']:.2f} s "
                         f"of work (real-time factor {details['rtf']})"])
    return "\n\n".join("  \n".join(section) for section in sections)


CAPTION_SOURCES = {"tts": "the voice's word timings", "transcribed": "the words heard in the speech",
                   "estimated": "the speech's pauses (estimated)", "none": "nothing: no words could be told"}


def controls_rows(details: dict[str, Any]) -> list[list[Any]]:
    """[control, set by you, proposed, used] for each control: the proposed-vs-final table."""
    return [[name, _blank(values["user"]), _blank(values["proposed"]), _blank(values["final"])]
            for name, values in details["controls"].items()]


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _moment(timestamp: str | None) -> str:
    """``2026-11-01 09:00:00 UTC`` (to the second), or "—"."""
    return (timestamp or "")[:19].replace("T", " ") + (" UTC" if timestamp else "—")


def controls_table(details: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(controls_rows(details), columns=CONTROLS_HEADERS)


def stage_timings(details: dict[str, Any]) -> pd.DataFrame | None:
    """The bar plot's data: seconds per finished stage (None when none finished: no plot rather
    than an empty one)."""
    timings = timings_to_show(details["timings"], details["inputs"]["enhancer"])
    return pd.DataFrame({"stage": list(timings), "seconds": list(timings.values())}) if timings else None


def delete_question(job: Job) -> str:
    return (f"Delete job **{job.id}** ({job.status}, {job.backend}) and its folder with everything in it"
            f"{', the video too' if job.video_path else ''}? This cannot be undone.")


# -- comparing ----------------------------------------------------------------------------------
def comparison_table(fields: list[ComparedField], *, only_differences: bool) -> pd.DataFrame:
    """[section, field, A, B, "≠" where they differ], every cell text; with ``only_differences``,
    the fields that differ and the jobs' own (id, status, backend…) to say which is which."""
    rows = [[field.section, field.field, _cell(field.a), _cell(field.b), "≠" if field.differs else ""]
            for field in fields if not only_differences or field.differs or field.section == "job"]
    return pd.DataFrame(rows, columns=COMPARE_HEADERS)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


# -- statistics ---------------------------------------------------------------------------------
def stats_summary(stats: JobStats) -> str:
    """"12 finished jobs — **embedded** 92 % of 10 · **did** 50 % of 2"."""
    if not stats.success:
        return "no jobs in this period"
    finished = {s.backend: s.done + s.failed + s.interrupted for s in stats.success}
    return f"{sum(finished.values())} finished jobs — " + " · ".join(
        f"**{s.backend}** {100 * s.success_rate:.0f} % of {finished[s.backend]}" for s in stats.success)


def success_rates(stats: JobStats) -> pd.DataFrame | None:
    """The success plot's data: per backend, done out of finished in percent (None: no jobs)."""
    if not stats.success:
        return None
    return pd.DataFrame({"backend": [s.backend for s in stats.success],
                         "success %": [round(100 * s.success_rate, 1) for s in stats.success]})


def realtime_factors(stats: JobStats) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """The real-time factor plot's points (day, factor, backend) and a colour per backend (None: no
    done jobs). The colours are given anew whenever the set of backends changes: the plot fixes its
    legend at the first value it gets, and a backend missing from it would draw invisible points."""
    if not stats.rtf:
        return None
    points = pd.DataFrame({"day": pd.to_datetime([r.day for r in stats.rtf]),
                           "real-time factor": [r.rtf for r in stats.rtf], "backend": [r.backend for r in stats.rtf]})
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(points["backend"])))}
    return points, colours


def batch_label(batch, counts: dict[str, int]) -> str:
    """A batch as the History's filter offers it: its file, how far it got, when it was made."""
    made = (batch.created_at or "")[:16].replace("T", " ")
    return f"{batch.name} · {counts.get('done', 0)}/{len(batch.rows)} done · {made}"
