"""The stages of a render job.

Each stage is a function ``stage(ctx) -> dict`` that reads its inputs from the job folder, writes
its outputs there, and returns the job fields it wants recorded. Stages know nothing of the
database or the UI; the runner (``runner.py``) calls them in order, times them, records what they
return and can start again from any of them, because everything a stage needs is on disk.

Files in a job folder, by the stage that writes them::

    input/portrait.*, input/audio.*   copied at submit time (the job owns its inputs)
    inputs.json     inputs    the checked request: face found, notes for the user
    speech.wav      speech    mono 16-bit PCM; speech.json: source, voice, phoneme timings
    analysis.json   analysis  duration, per-frame loudness envelope, voiced spans, features
    emotion.json    emotion   emotion, confidence, evidence
    controls.json   control   proposed and final controls, which controller, why
    render.mp4      render    the animated video, H.264, no audio (render.json: backend facts); from a
                              hosted renderer the vendor's video with its sound (remote.json: the
                              vendor's id, written before the first poll, so resume never re-submits)
    enhance.json    enhance   which face enhancer ran (``{"enhancer": null}`` when none was asked for);
                              enhanced.mp4: the render with the face restored, when one ran
    output.vtt      captions  the captions as WebVTT, beside the video; output.srt: the same as SubRip;
                              captions.json: the cues, where the words came from, the timed words
    output.mp4      encode    H.264 + AAC, faststart: the deliverable (with the captions drawn in, when asked)
    framing.json    encode    a format other than as-is: the canvas, where the video and its face were placed
    job.log                   what happened, one line each: stages, failures, leftovers stopped

Every file a stage writes is written first under a name only that attempt uses (``ctx.writing``:
``render.partial-<pid>-<token>.mp4``) and renamed into place once complete, so no two processes —
a resumed job and an encoder its killed predecessor left running — ever write one file, and a
file under its final name is whole. Such ``*.partial-*`` files of dead attempts are deleted when
the job runs again (``leftovers.remove_partials``). The media stages also decode what they made
in full before accepting it (``media.verify_video``): ``render.mp4`` has the analysis's frame
count (a hosted vendor's file: decodes cleanly), ``enhanced.mp4`` as many as ``render.mp4``, and
``output.mp4`` as many as the video it packages, with its sound decoding too.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .controls import Controls, check_emotion, out_of_range_notes, propose_rule_based
from .errors import BadInput, StudioError
from .files import partial_path
from .settings import Settings

STAGES = ("inputs", "speech", "analysis", "emotion", "control", "render", "enhance", "captions", "encode")
# Share of the whole job each stage usually takes, for one honest progress bar (``stage_weights``
# gives the enhancer its share only when the job asks for one).
STAGE_WEIGHTS = {"inputs": 0.04, "speech": 0.12, "analysis": 0.03, "emotion": 0.01,
                 "control": 0.01, "render": 0.74, "enhance": 0.0, "captions": 0.01, "encode": 0.05}
ENHANCE_WEIGHT = 0.45  # restoring every frame's face costs about as much again as a render
OUTPUTS = {
    "inputs": ("inputs.json",), "speech": ("speech.wav", "speech.json"),
    "analysis": ("analysis.json",), "emotion": ("emotion.json",), "control": ("controls.json",),
    "render": ("render.mp4",), "enhance": ("enhance.json",),
    "captions": ("output.vtt", "output.srt", "captions.json"), "encode": ("output.mp4",),
}


def stage_weights(options: dict) -> dict[str, float]:
    """Each stage's share of this job's progress bar: they add up to 1."""
    weights = dict(STAGE_WEIGHTS)
    if options.get("enhancer"):
        weights["enhance"] = ENHANCE_WEIGHT
    total = sum(weights.values())
    return {stage: weight / total for stage, weight in weights.items()}


def timings_to_show(timings: dict[str, float], enhancer: str | None) -> dict[str, float]:
    """A job's stage timings for a person to read: the enhance stage only when the job asked for a
    face enhancer (otherwise that stage only notes that none ran)."""
    return {stage: seconds for stage, seconds in timings.items() if stage != "enhance" or enhancer}


@dataclass
class StageContext:
    job_dir: Path
    settings: Settings
    text: str | None
    image: Path | None  # the job's own copy, or None when it was never readable
    audio: Path | None
    backend: str
    options: dict = field(default_factory=dict)
    controls_user: dict = field(default_factory=dict)
    progress: Callable[[float], None] = lambda fraction: None
    record: Callable[..., None] = lambda **fields: None  # job fields to store now, mid-stage (hosted renders)

    def path(self, name: str) -> Path:
        return self.job_dir / name

    def read_json(self, name: str) -> dict:
        return json.loads(self.path(name).read_text())

    def write_json(self, name: str, value: Any) -> None:
        with self.writing(name) as tmp:
            tmp.write_text(json.dumps(value, indent=1))

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A name only this attempt writes (``files.partial_path``) for the job file ``name``: moved
        onto ``name`` when the block ends without an error, removed when it does not."""
        tmp = partial_path(self.path(name))
        try:
            yield tmp
            tmp.replace(self.path(name))
        finally:
            tmp.unlink(missing_ok=True)


def stage_inputs(ctx: StageContext) -> dict:
    from .speech import check_text

    if ctx.image is None or not ctx.image.is_file():
        raise BadInput(f"portrait not found: {ctx.options.get('image_name') or 'no image given'}")
    if ctx.audio is None and ctx.text is None:
        raise BadInput("give a script (--text) or an audio file (--audio) for the avatar to say")
    if ctx.audio is not None and not ctx.audio.is_file():
        raise BadInput(f"audio file not found: {ctx.options.get('audio_name')}")
    if ctx.text is not None and ctx.audio is None:
        check_text(ctx.text)
    from .render import renderers

    renderer = renderers.create(ctx.backend, ctx.settings)
    face = _face(ctx)
    checked = renderer.check_inputs(ctx.image, settings=ctx.settings, display_name=ctx.options.get("image_name"),
                                    max_side=ctx.options.get("max_side", ctx.settings.max_side),
                                    **({} if face is None else {"face": face}))
    _check_framing(ctx, checked)
    ctx.write_json("inputs.json", checked)
    return {"notes": checked.get("notes", [])}


def _face(ctx: StageContext) -> int | None:
    """The face a request numbered (None: the largest). ``check_inputs`` is given it only when there
    is one, so a plugin renderer written before faces could be picked still takes the call."""
    face = ctx.options.get("face")
    return None if face is None else int(face)


def _check_framing(ctx: StageContext, checked: dict) -> None:
    """A format the portrait's face cannot be framed in is refused now, before anything is spoken or
    drawn (from the face the renderer found: a hosted one's video is only checked once it exists)."""
    from .formats import frame

    face = (checked.get("face") or {}).get("bbox")
    if face and checked.get("width") and checked.get("height"):
        frame(ctx.options.get("output_format") or "as-is", (checked["width"], checked["height"]), face)


def stage_speech(ctx: StageContext) -> dict:
    from .speech import make_speech
    from .speech.tuning import VoiceTuning

    use_text = ctx.text if ctx.audio is None else None
    make_speech(text=use_text, audio_path=ctx.audio, out_dir=ctx.job_dir, voice=ctx.options.get("voice"),
                display_name=ctx.options.get("audio_name"), settings=ctx.settings,
                tuning=VoiceTuning.from_data(ctx.options.get("voice_tuning")))
    return {}


def stage_analysis(ctx: StageContext) -> dict:
    from .analysis import analyse

    analysis = analyse(ctx.path("speech.wav"), fps=ctx.options.get("fps", ctx.settings.fps))
    ctx.write_json("analysis.json", analysis.to_dict())
    return {"duration_s": analysis.duration_s}


def _analysis(ctx: StageContext):
    from .analysis import Analysis

    return Analysis.from_dict(ctx.read_json("analysis.json"))


def stage_emotion(ctx: StageContext) -> dict:
    from .emotion import detect_emotion

    detected = detect_emotion(ctx.text, _analysis(ctx)).to_dict()
    forced = ctx.options.get("emotion")
    record = {**detected, "detected": detected["emotion"]}
    if forced:
        record.update(emotion=check_emotion(forced), confidence=1.0, forced_by_user=True)
    ctx.write_json("emotion.json", record)
    return {"emotion": record["emotion"], "emotion_confidence": record["confidence"],
            "emotion_evidence": record["evidence"]}


def stage_control(ctx: StageContext) -> dict:
    """Proposed controls from the rules or the LLM controller, then the user's values on top."""
    emotion = ctx.read_json("emotion.json")
    analysis = _analysis(ctx)
    if ctx.options.get("controller", "rules") == "llm":
        from .llm import get_llm
        from .llm.controller import propose_with_llm

        llm = get_llm(ctx.settings, ctx.options.get("llm"), ctx.options.get("llm_model"))
        proposed, detail = propose_with_llm(
            llm, emotion=emotion["emotion"], confidence=emotion["confidence"], energy=analysis.energy,
            loudness_db=analysis.features.get("rms_dbfs_mean"), transcript=ctx.text or "")
        reasons = detail.get("reasons") or [f"proposed by {detail['backend']} ({detail['model']}): {detail['path']}"]
    else:
        proposed, reasons = propose_rule_based(emotion["emotion"], emotion["confidence"], analysis.energy)
        detail = {"path": "rules", "reasons": reasons}
    final = proposed.merge(ctx.controls_user)
    controller = "rules" if detail["path"] == "rules" else "llm"
    notes = out_of_range_notes(ctx.controls_user)
    if detail["path"] == "rules-fallback":
        notes.append(f"the LLM controller's answer was not usable ({detail.get('error')}); the rule-based "
                     "controller chose the controls")
    ctx.write_json("controls.json", {
        "controller": controller, "path": detail["path"], "reasons": reasons, "detail": detail, "notes": notes,
        "user": ctx.controls_user, "proposed": proposed.to_dict(), "final": final.to_dict(),
    })
    return {"controller": controller, "controller_detail": detail, "controls_proposed": proposed.to_dict(),
            "controls_final": final.to_dict(), "notes": _notes(ctx)}


def renderer_options(options: dict) -> dict:
    """A job's renderer options as recorded: ``renderer_options``, over the ``hosted`` dict that
    jobs made before options were one dict kept a vendor's ids in."""
    return {**(options.get("hosted") or {}), **(options.get("renderer_options") or {})}


def stage_render(ctx: StageContext) -> dict:
    """The renderer's video. A local one writes this attempt's own file, checked frame by frame
    before it becomes ``render.mp4``; a hosted one (its capabilities say so) submits, polls and
    downloads into ``render.mp4`` itself, checking what the vendor sent."""
    from .media import verify_video
    from .render import RenderJob, renderers

    analysis = _analysis(ctx)
    speech = ctx.read_json("speech.json")
    renderer = renderers.create(ctx.backend, ctx.settings)
    hosted = renderer.capabilities(ctx.settings).hosted
    job = RenderJob(
        job_id=ctx.job_dir.name, job_dir=ctx.job_dir, settings=ctx.settings, portrait=ctx.image,
        display_name=ctx.options.get("image_name"), speech_wav=ctx.path("speech.wav"),
        speech_s=float(speech["duration_s"]), phonemes=speech.get("phonemes"),
        script=ctx.text.strip() if ctx.text and ctx.audio is None else None,
        n_frames=analysis.n_frames, fps=analysis.fps, envelope=analysis.envelope,
        voiced_spans=analysis.voiced_spans, controls=Controls.from_dict(ctx.read_json("controls.json")["final"]),
        controls_user=dict(ctx.controls_user),
        options=renderer.check_options(renderer_options(ctx.options), ctx.settings),
        seed=int(ctx.options.get("seed", 0)), max_side=int(ctx.options.get("max_side") or ctx.settings.max_side),
        face=_face(ctx), progress=ctx.progress, record=ctx.record)
    if hosted:
        info = renderer.render(job)
    else:
        with ctx.writing("render.mp4") as out:
            job.out = out
            info = renderer.render(job)
            verify_video(out, frames=analysis.n_frames, audio=False, name="render.mp4")
    ctx.write_json("render.json", {"backend": ctx.backend, **info})
    fields = {"notes": _notes(ctx, info.get("notes", []))}
    if "controls_ignored" in info:  # renderers that cannot honour every control say which
        fields["controls_ignored"] = info["controls_ignored"]
    return fields


def stage_enhance(ctx: StageContext) -> dict:
    """The optional face enhancer (``options["enhancer"]``, e.g. "gfpgan") over the rendered video:
    ``enhanced.mp4``, which the encode stage then uses instead of ``render.mp4``."""
    name = ctx.options.get("enhancer")
    ctx.path("enhanced.mp4").unlink(missing_ok=True)
    if not name:
        ctx.write_json("enhance.json", {"enhancer": None})
        return {}
    from .media import verify_video

    from .enhance import enhancers

    enhancer = enhancers.create(name, ctx.settings)
    render = ctx.read_json("render.json") if ctx.path("render.json").exists() else {}
    frames = _render_frames(ctx, render)
    with ctx.writing("enhanced.mp4") as out:  # an enhancer writes where it is told: this attempt's own file
        info = enhancer.enhance(ctx.path("render.mp4"), out, settings=ctx.settings,
                                progress=ctx.progress, keep_audio=bool(render.get("hosted")))
        verify_video(out, frames=frames, name="enhanced.mp4")
    ctx.write_json("enhance.json", {"enhancer": name, **info})
    return {"notes": _notes(ctx, info.get("notes", []))}


def stage_captions(ctx: StageContext) -> dict:
    """``output.vtt`` and ``output.srt`` (``captions.json`` keeps their cues) from the words the video
    says: the TTS's word timings for a script; Whisper's word timestamps for a recording, and for a
    hosted vendor that spoke the script in its own voice (its timing is not ours); the script spread
    over the voiced spans when the voice gave no timings. A recording with no transcriber here has
    empty captions and a note saying why, rather than no video."""
    from .captions import Captions, cues_from_words, display_words, estimated_words, heard_words, write_captions
    from .errors import BackendUnavailable

    speech = ctx.read_json("speech.json")
    render = ctx.read_json("render.json") if ctx.path("render.json").exists() else {}
    analysis = _analysis(ctx)
    duration = min(float(speech["duration_s"]), analysis.n_frames / analysis.fps)
    notes: list[str] = []
    heard_from = None
    if render.get("hosted") and render.get("speech") != "audio":
        from .media import probe

        heard_from, duration = ctx.path("render.mp4"), probe(ctx.path("render.mp4")).duration_s
    elif speech.get("source") != "tts":
        heard_from = ctx.path("speech.wav")
    if heard_from is not None:
        from .speech.stt import transcribe_file

        try:
            transcript = transcribe_file(ctx.settings, heard_from, word_timestamps=True, display_name="the speech")
            words, source = heard_words(transcript.words), "transcribed"
        except BackendUnavailable as error:
            words, source = [], "none"
            notes.append(f"no captions: the speech could not be transcribed ({error})")
    elif speech.get("words"):
        timed = [(w["word"], w["start"], w["end"]) for w in speech["words"]]
        words, source = display_words(speech["text"], timed), "tts"
    else:
        words, source = estimated_words(speech.get("text") or "", analysis.voiced_spans, duration), "estimated"
        notes.append("the voice gave no word timings: the captions' times are estimated from the speech's pauses")
    cues = tuple(cues_from_words(words, duration))
    if source == "transcribed" and not cues:
        notes.append("no words were recognised in the speech: the captions are empty")
    record = write_captions(ctx.job_dir, Captions(cues=cues, source=source, words=tuple(words), notes=tuple(notes)))
    record["burned_in"] = bool(ctx.options.get("burn_captions")) and bool(cues)
    return {"captions": record, "notes": _notes(ctx)}


def _render_frames(ctx: StageContext, render: dict) -> int:
    """How many frames ``render.mp4`` has: the analysis's count for a local renderer (the render
    stage checked it), the count taken when a vendor's file was accepted, else counted now."""
    from .media import verify_video

    if not render.get("hosted"):
        return _analysis(ctx).n_frames
    return render.get("frames") or verify_video(ctx.path("render.mp4")).frames


def _rendered_video(ctx: StageContext) -> Path:
    """What the encode stage packages: the enhanced video when an enhancer ran, else the render."""
    enhanced = ctx.path("enhance.json").exists() and ctx.read_json("enhance.json").get("enhancer")
    return ctx.path("enhanced.mp4") if enhanced else ctx.path("render.mp4")


def _notes(ctx: StageContext, extra: list[str] = ()) -> list[str]:
    """What the user should know so far: from the inputs check, the controller, the renderer, the
    enhancer and the captions (each stage's file keeps its notes), and ``extra``."""
    notes = ctx.read_json("inputs.json").get("notes", [])
    for name in ("controls.json", "render.json", "enhance.json", "captions.json"):
        if ctx.path(name).exists():
            notes = [*notes, *ctx.read_json(name).get("notes", [])]
    return list(dict.fromkeys([*notes, *extra]))


def stage_encode(ctx: StageContext) -> dict:
    """``output.mp4``, checked before it takes that name: both streams there, index at the front,
    every frame of the packaged video in it and all of it decoding without an error. With
    ``burn_captions`` the captions are drawn into the frames as the video is packaged (re-encoded
    with libass: ``burn_in.py``); otherwise the picture is copied as it is."""
    from .compose import compose_video
    from .media import check_deliverable, mux

    speech_s = ctx.read_json("speech.json")["duration_s"]
    render = ctx.read_json("render.json") if ctx.path("render.json").exists() else {}
    frames = _render_frames(ctx, render)  # the enhanced video, when there is one, has as many
    cues, framing = _cues_to_draw(ctx), _framing(ctx, frames)
    background = ctx.options.get("background") or "blurred"
    if render.get("hosted"):  # the vendor's video carries its own speech; checks in render/hosted.py
        from .render.hosted import encode_hosted

        with ctx.writing("output.mp4") as out:
            fields = encode_hosted(_rendered_video(ctx), out, speech_s=speech_s, render=render,
                                   speech_wav=ctx.path("speech.wav"), frames=frames)
            if cues or framing:  # drawn over the packaged video, its sound copied: in place, then checked again
                compose_video(out, out, cues=cues, framing=framing, background=background)
                check_deliverable(out)
        encode_notes = fields.pop("notes")
        return {**fields, "video_path": str(ctx.path("output.mp4")), "video_size": _video_size(ctx.path("output.mp4")),
                "notes": _notes(ctx, [*render.get("notes", []), *encode_notes])}
    with ctx.writing("output.mp4") as out:
        if cues or framing:
            compose_video(_rendered_video(ctx), out, cues=cues, framing=framing, background=background,
                          audio=ctx.path("speech.wav"))
        else:
            mux(_rendered_video(ctx), ctx.path("speech.wav"), out)
        info = check_deliverable(out, frames=frames)
        fps = ctx.options.get("fps", ctx.settings.fps)
        if abs(info.duration_s - speech_s) > 1.0 / fps + 0.03:  # AAC priming rounds to ~1 audio frame
            raise StudioError(f"the video lasts {info.duration_s:.2f} s but the speech {speech_s:.2f} s")
    return {"video_path": str(ctx.path("output.mp4")), "duration_s": round(speech_s, 3),
            "video_size": [info.video.width, info.video.height]}


def _video_size(path: Path) -> list[int]:
    """[width, height] of a finished video, as the file says."""
    from .media import probe

    video = probe(path).video
    return [video.width, video.height]


def _framing(ctx: StageContext, frames: int):
    """Where the video goes in the job's format (None: as it is), from the face found in the rendered
    video's first frame — whatever drew it — else the portrait's face scaled to the video. Kept in
    ``framing.json``."""
    from .formats import AS_IS, frame
    from .media import VideoReader

    preset = ctx.options.get("output_format") or AS_IS
    ctx.path("framing.json").unlink(missing_ok=True)
    if preset == AS_IS:
        return None
    from .face.mesh import find_faces

    with VideoReader(_rendered_video(ctx)) as reader:
        size = (reader.width, reader.height)
        first = next(iter(reader), None)
    faces = find_faces(first) if first is not None else []
    if faces:
        face = faces[0].bbox
    else:
        checked = ctx.read_json("inputs.json")
        box = (checked.get("face") or {}).get("bbox") or (0, 0, checked.get("width", 1), checked.get("height", 1))
        sx, sy = size[0] / checked.get("width", size[0]), size[1] / checked.get("height", size[1])
        face = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    framing = frame(preset, size, face)
    ctx.write_json("framing.json", {**framing.to_dict(), "background": ctx.options.get("background") or "blurred",
                                    "face_from": "video" if faces else "portrait"})
    return framing


def _cues_to_draw(ctx: StageContext) -> tuple:
    """The cues to burn into the video: none unless the job asked for it (``burn_captions``)."""
    if not ctx.options.get("burn_captions"):
        return ()
    from .captions import Captions

    return Captions.load(ctx.job_dir).cues


STAGE_FUNCTIONS: dict[str, Callable[[StageContext], dict]] = {
    "inputs": stage_inputs, "speech": stage_speech, "analysis": stage_analysis,
    "emotion": stage_emotion, "control": stage_control, "render": stage_render, "enhance": stage_enhance,
    "captions": stage_captions, "encode": stage_encode,
}
