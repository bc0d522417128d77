"""Sealed files in the artifact directory. Nothing is written there unencrypted."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import current_app


def artifact_dir() -> Path:
    path: Path = current_app.config["PORTAL_SETTINGS"].artifact_dir
    return path


def screenshot_path(subject_id: str, screenshot_id: str) -> Path:
    return artifact_dir() / "screenshots" / subject_id / f"{screenshot_id}.sealed"


def write_atomically(path: Path, data: bytes) -> None:
    """Write under a temporary name and rename, so no partial file is ever visible."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
