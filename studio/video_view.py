"""What a video player shows for a finished job: its video with its captions as the subtitle track,
under the name it downloads as (``pipeline.downloads``: persona, first words, job id).

The Render lab, History and Chat hand a job to a ``gr.Video`` through ``job_player``. Gradio 6's
player takes the captions as a component property (``subtitles``), not as part of the value, so
the answer is an update (``gr.update``) carrying both; it always sets ``subtitles`` (None for a job
without captions, and for one whose captions are drawn into the picture already), because a
property once set stays until it is set again, and an old job's video must not play under the
previous job's captions.

Serving follows the guard's rule for every output (``studio/guard.py``): Gradio copies the WebVTT
file from the job folder into its cache, like the video, and the guard records the copy as the
owner's, so only the one who rendered the job can fetch it. Nothing inside the data folder is ever
served as it is.

The programmatic API (``/render``, ``/chat``) keeps answering with the video's path alone: a
``gradio_client`` caller would otherwise receive an update dict where it has always had a file.

``caption_downloads`` fills the Render lab's and History's "Captions" file list from the job the
panel shows: the WebVTT and SRT under the job's download name, for a creator to upload with the
video where captions are a separate file.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline.db import Job
from pipeline.downloads import named_files
from pipeline.errors import StudioError
from pipeline.history import job_captions, job_video
from pipeline.settings import Settings


def caption_downloads(ctx, shown: dict | None) -> list[str] | None:
    """The shown job's caption files (``shown``: its details, with ``job_id``) under its download name;
    None when no job is shown or it has no captions."""
    if not shown or not shown.get("job_id"):
        return None
    try:
        job = ctx.runner.store.get(shown["job_id"])
    except StudioError:  # deleted meanwhile, or not this owner's: nothing to offer
        return None
    if job_captions(ctx.settings, job) is None:
        return None
    named = named_files(ctx.settings, job)
    return [str(named[kind]) for kind in ("vtt", "srt") if kind in named] or None


def job_player(settings: Settings, job: Job | None, **props: Any) -> dict | None:
    """``job``'s video with its captions as an update of a ``gr.Video`` (``props``: other properties to
    set, such as ``autoplay``), both under the job's download name; None when it has no video to show."""
    video = job_video(settings, job) if job is not None else None
    if video is None:
        return None
    named = named_files(settings, job)
    # captions drawn into the picture are not shown a second time as a track
    captions = named.get("vtt") if job_captions(settings, job) and not job.captions.get("burned_in") else None
    return gr.update(value=str(named.get("video", video)), subtitles=str(captions) if captions else None, **props)
