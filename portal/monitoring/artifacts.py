"""Sealed files in the artifact directory. Nothing is written there unencrypted."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from portal.files import write_file


def artifact_dir() -> Path:
    path: Path = current_app.config["PORTAL_SETTINGS"].artifact_dir
    return path


def screenshot_path(subject_id: str, screenshot_id: str) -> Path:
    return artifact_dir() / "screenshots" / subject_id / f"{screenshot_id}.sealed"


def write_atomically(path: Path, data: bytes) -> None:
    """Write every byte under a temporary name, then rename, so no partial file is ever visible
    (and none is left behind when a write fails)."""
    write_file(path, data, make_parents=True)
