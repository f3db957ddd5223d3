from pathlib import Path

import pytest

from matcher.settings import Settings, SettingsError, load_settings


def test_environment_beats_the_config_file_which_beats_the_defaults(tmp_path):
    config = tmp_path / "matcher.toml"
    config.write_text('[matcher]\nartifacts = "builds"\ndatabase_url = "sqlite:///file.sqlite"\nupload_mb = 20\n'
                      f'image_roots = ["{tmp_path}"]\n')
    from_file = load_settings({"MATCHER_CONFIG": str(config)})
    assert from_file == Settings(Path("builds"), "sqlite:///file.sqlite", (tmp_path.resolve(),), 20)
    overridden = load_settings({"MATCHER_CONFIG": str(config), "MATCHER_DB": "postgresql+psycopg://x/y",
                                "MATCHER_UPLOAD_MB": "5", "MATCHER_IMAGE_ROOTS": f"{tmp_path}/a:{tmp_path}/b"})
    assert overridden.database_url == "postgresql+psycopg://x/y" and overridden.upload_mb == 5
    assert overridden.image_roots == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
    assert overridden.artifacts == Path("builds")
    assert load_settings({"MATCHER_CONFIG": str(tmp_path / "absent.toml")}) == Settings()


def test_bad_values_are_named(tmp_path):
    config = tmp_path / "matcher.toml"
    config.write_text("[matcher\nartifacts = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({"MATCHER_CONFIG": str(config)})
    with pytest.raises(SettingsError, match="upload_mb must be a whole number"):
        load_settings({"MATCHER_CONFIG": str(tmp_path / "none.toml"), "MATCHER_UPLOAD_MB": "lots"})
