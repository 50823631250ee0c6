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
    assert settings.key("HEYGEN_API_KEY") == "sekret-123"
    with pytest.raises(MissingKey, match="DID_API_KEY is not set"):
        settings.key("DID_API_KEY")


def test_bad_size_setting_is_named():
    from pipeline.errors import BadInput

    with pytest.raises(BadInput, match="AVATAR_STUDIO_MAX_SIDE must be between 256 and 1080"):
        resolve({"AVATAR_STUDIO_MAX_SIDE": "5000"}, dotenv=False)
