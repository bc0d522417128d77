"""Sealed files in the artifact directory. Nothing is written there unencrypted."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from sqlalchemy import select

from portal.config import current_settings
from portal.files import stale_files, unlink_quietly, write_file
from portal.jobs.runners import periodic

log = logging.getLogger(__name__)

ORPHAN_AGE_SECONDS = 15 * 60  # a file younger than this may belong to a write about to commit


def artifact_dir() -> Path:
    path: Path = current_settings().artifact_dir
    return path


def screenshot_path(subject_id: str, screenshot_id: str) -> Path:
    return artifact_dir() / "screenshots" / subject_id / f"{screenshot_id}.sealed"


def write_atomically(path: Path, data: bytes) -> None:
    """Write every byte under a temporary name, then rename, so no partial file is ever visible
    (and none is left behind when a write fails)."""
    write_file(path, data, make_parents=True)


def remove_orphan_screenshots(subject_id: str, *, older_than: float = ORPHAN_AGE_SECONDS) -> int:
    """Remove the subject's screenshot files that no row points to (written by an ingestion whose
    transaction never committed, or left by an erasure cut short), and the folder once empty."""
    from portal.extensions import db
    from portal.monitoring.models import Screenshot

    folder = artifact_dir() / "screenshots" / subject_id
    keep = set(db.session.scalars(select(Screenshot.id).where(Screenshot.subject_id == subject_id)))
    removed = 0
    for path in stale_files(folder, keep, older_than=older_than, suffix=".sealed"):
        unlink_quietly(path)
        removed += 1
    with contextlib.suppress(OSError):
        folder.rmdir()  # only if empty
    return removed


@periodic(every=3600)
def sweep_orphan_screenshots() -> None:
    """Hourly: every subject's screenshot folder, cleared of files no row points to."""
    root = artifact_dir() / "screenshots"
    if not root.is_dir():
        return
    removed = sum(remove_orphan_screenshots(folder.name) for folder in root.iterdir() if folder.is_dir())
    if removed:
        log.info("removed %d screenshot file(s) that no row pointed to", removed)
