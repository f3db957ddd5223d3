"""Where the app keeps things: artifacts, the review database, the server folders photos may come from.

Each setting comes from the environment first (MATCHER_ARTIFACTS, MATCHER_DB,
MATCHER_IMAGE_ROOTS, MATCHER_UPLOAD_MB), then from the `[matcher]` table of
`.streamlit/matcher.toml` (or the file MATCHER_CONFIG names), then a default.
Paths in the file are relative to the folder the app was started in.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = Path(".streamlit") / "matcher.toml"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the setting and where it came from."""


@dataclass(frozen=True)
class Settings:
    artifacts: Path = Path("artifacts")
    # An SQLAlchemy URL. Outside the artifacts folder on purpose: deleting builds never loses decisions.
    database_url: str = "sqlite:///reviews.sqlite"
    # Server folders a catalogue's photos may be imported from (none: uploads only).
    image_roots: tuple[Path, ...] = field(default_factory=tuple)
    upload_mb: int = 500  # the largest CSV or zip of photos the app accepts


def load_settings(environ=None) -> Settings:
    """The settings in force: environment, then the config file, then the defaults."""
    environ = os.environ if environ is None else environ
    path = Path(environ.get("MATCHER_CONFIG") or CONFIG_FILE)
    table = _read_table(path)

    def value(name: str, env: str):
        return environ.get(env) or table.get(name)

    defaults = Settings()
    roots = value("image_roots", "MATCHER_IMAGE_ROOTS") or ()
    if isinstance(roots, str):
        roots = [r for r in roots.split(os.pathsep) if r]
    upload = value("upload_mb", "MATCHER_UPLOAD_MB") or defaults.upload_mb
    try:
        upload = int(upload)
    except (TypeError, ValueError):
        raise SettingsError(f"upload_mb must be a whole number of megabytes, got {upload!r}") from None
    return Settings(artifacts=Path(value("artifacts", "MATCHER_ARTIFACTS") or defaults.artifacts),
                    database_url=str(value("database_url", "MATCHER_DB") or defaults.database_url),
                    image_roots=tuple(Path(r).resolve() for r in roots),
                    upload_mb=upload)


def _read_table(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("matcher", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path} is not valid TOML ({error}); fix or remove it") from None
