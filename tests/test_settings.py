from pipeline.errors import MissingKey
from pipeline.settings import resolve

import pytest


def test_home_from_environment(tmp_path):
    settings = resolve({"AVATAR_STUDIO_HOME": str(tmp_path / "x")}, dotenv=False)
    assert settings.home == (tmp_path / "x").resolve()
    assert settings.db_path.parent == settings.home and settings.jobs_dir.parent == settings.home


def test_dotenv_fills_in_but_never_overrides(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("MISTRAL_API_KEY=from-dotenv\nAVATAR_STUDIO_MAX_SIDE=640\n")
    monkeypatch.chdir(tmp_path)
    settings = resolve({"AVATAR_STUDIO_MAX_SIDE": "720"})
    assert settings.max_side == 720
    assert settings.key("MISTRAL_API_KEY") == "from-dotenv"


def test_keys_never_show_in_repr_or_env(tmp_path):
    settings = resolve({"HEYGEN_API_KEY": "sekret-123", "AVATAR_STUDIO_HOME": str(tmp_path)}, dotenv=False)
    assert "sekret-123" not in repr(settings)
    assert "HEYGEN_API_KEY" not in settings.env and "sekret-123" not in settings.env.values()
    assert settings.key("HEYGEN_API_KEY") == "sekret-123"
    with pytest.raises(MissingKey, match="DID_API_KEY is not set"):
        settings.key("DID_API_KEY")


def test_bad_size_setting_is_named():
    from pipeline.errors import BadInput

    with pytest.raises(BadInput, match="AVATAR_STUDIO_MAX_SIDE must be between 256 and 1080"):
        resolve({"AVATAR_STUDIO_MAX_SIDE": "5000"}, dotenv=False)


def test_sadtalker_settings_have_defaults_and_are_read(tmp_path):
    from pipeline.render.sadtalker import SadTalkerSettings

    defaults = SadTalkerSettings.of(resolve({}, dotenv=False))
    assert (defaults.checkout, defaults.size, defaults.preprocess) == (None, 256, "crop")
    assert (defaults.pose_style, defaults.batch_size) == (0, 2)
    assert defaults.fp16 is True and defaults.allow_cpu is False
    section = SadTalkerSettings.of(resolve({
        "SADTALKER_DIR": str(tmp_path), "SADTALKER_SIZE": "512", "SADTALKER_PREPROCESS": "Full",
        "SADTALKER_POSE_STYLE": "45", "SADTALKER_BATCH_SIZE": "8", "SADTALKER_FP16": "off",
        "SADTALKER_ALLOW_CPU": "yes"}, dotenv=False))
    assert section.checkout == tmp_path.resolve()
    assert (section.size, section.preprocess, section.pose_style) == (512, "full", 45)
    assert section.batch_size == 8 and section.fp16 is False and section.allow_cpu
    overridden = SadTalkerSettings.of(resolve({}, dotenv=False).with_env(SADTALKER_SIZE="512"))
    assert overridden.size == 512


@pytest.mark.parametrize("variable, value, message", [
    ("SADTALKER_SIZE", "384", "SADTALKER_SIZE must be one of 256, 512"),
    ("SADTALKER_PREPROCESS", "resize", "SADTALKER_PREPROCESS must be one of crop, full"),
    ("SADTALKER_POSE_STYLE", "46", "SADTALKER_POSE_STYLE must be between 0 and 45"),
    ("SADTALKER_BATCH_SIZE", "0", "SADTALKER_BATCH_SIZE must be between 1 and 64"),
    ("SADTALKER_FP16", "maybe", "SADTALKER_FP16 must be one of 1, true"),
])
def test_bad_sadtalker_settings_are_named(variable, value, message):
    """A SADTALKER_* value that makes no sense is SadTalker's problem, not the studio's: it is named
    when SadTalker's section is read, and it is why SadTalker cannot run."""
    from pipeline.errors import BadInput
    from pipeline.render import renderers
    from pipeline.render.sadtalker import SadTalkerSettings

    settings = resolve({variable: value}, dotenv=False)  # the rest of the studio starts
    with pytest.raises(BadInput, match=message):
        SadTalkerSettings.of(settings)
    assert message in renderers.unavailable("sadtalker", settings)


def test_gfpgan_settings_have_defaults_and_are_read(tmp_path):
    from pipeline.enhance.gfpgan import SADTALKER_GFPGAN_WEIGHTS, GFPGANSettings
    from pipeline.errors import BadInput

    defaults = GFPGANSettings.of(resolve({}, dotenv=False))
    assert (defaults.weights, defaults.sadtalker_dir, defaults.weights_path) == (None, None, None)
    assert defaults.smoothing == 0.6
    in_checkout = GFPGANSettings.of(resolve({"SADTALKER_DIR": str(tmp_path)}, dotenv=False))
    assert in_checkout.weights_path == tmp_path.resolve() / SADTALKER_GFPGAN_WEIGHTS
    chosen = GFPGANSettings.of(resolve({"SADTALKER_DIR": str(tmp_path), "GFPGAN_WEIGHTS": str(tmp_path / "g.pth"),
                                        "GFPGAN_SMOOTHING": "0"}, dotenv=False))
    assert chosen.weights_path == (tmp_path / "g.pth").resolve() and chosen.smoothing == 0.0
    settings = resolve({"GFPGAN_SMOOTHING": "2"}, dotenv=False)
    with pytest.raises(BadInput, match="GFPGAN_SMOOTHING"):
        GFPGANSettings.of(settings)


def test_in_a_space_the_local_llm_comes_from_the_hub():
    from pipeline.settings import SPACE_LOCAL_MODELS, resolve

    assert resolve({}, dotenv=False).llm_model("local") is None  # the bundled GGUF
    assert resolve({"SPACE_ID": "me/studio"}, dotenv=False).llm_model("local") == SPACE_LOCAL_MODELS["cpu"]
    on_gpu = resolve({"SPACE_ID": "me/studio", "SPACES_ZERO_GPU": "true"}, dotenv=False)
    assert on_gpu.llm_model("local") == SPACE_LOCAL_MODELS["zero-gpu"] == "Qwen/Qwen2.5-1.5B-Instruct"
    chosen = resolve({"SPACE_ID": "me/studio", "LOCAL_LLM_MODEL": "/models/mine"}, dotenv=False)
    assert chosen.llm_model("local") == "/models/mine"
