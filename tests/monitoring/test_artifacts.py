"""Files that no row points to (a process that died after writing a screenshot or an evidence pack
and before its row committed) are removed once they are old enough not to be a write in flight;
files with rows, and young files, are kept."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.evidence import sharing
from portal.evidence.models import EvidencePack
from portal.extensions import db
from portal.jobs.runners import run_periodic
from portal.monitoring import artifacts
from portal.monitoring.artifacts import artifact_dir, remove_orphan_screenshots, screenshot_path
from portal.monitoring.models import Screenshot
from tests.helpers import existing
from tests.rights.support import World, fill, start_world

OLD = time.time() - 2 * artifacts.ORPHAN_AGE_SECONDS


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def aged(path: Path, data: bytes = b"sealed bytes") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))
    return path


def test_screenshot_files_without_rows_are_swept_and_the_rest_kept(world: World) -> None:
    fill(world.alice, events=2, shots=3)
    kept = {screenshot_path(world.alice, shot_id) for shot_id in
            db.session.scalars(sa.select(Screenshot.id).where(Screenshot.subject_id == world.alice))}
    for path in kept:
        os.utime(path, (OLD, OLD))  # old files with rows stay
    orphan = aged(screenshot_path(world.alice, "f" * 32))
    left_by_a_dead_writer = aged(screenshot_path(world.alice, "e" * 32).with_name(".eeee.sealed.1a2b.part"))
    young = screenshot_path(world.alice, "d" * 32)
    young.write_bytes(b"a write whose row is about to commit")

    assert remove_orphan_screenshots(world.alice) == 2
    assert not orphan.exists() and not left_by_a_dead_writer.exists()
    assert young.exists() and all(path.exists() for path in kept)

    # A folder whose person has nothing left goes too; the hourly sweep does the same for everyone.
    lone = aged(screenshot_path(world.bob, "c" * 32))
    run_periodic(all_due=True)  # as the first sweep of a process; later ones, hourly
    assert not lone.exists() and not lone.parent.exists()


def test_evidence_pack_files_without_rows_are_swept(world: World, app: Flask) -> None:
    from portal.audit.services import Actor
    from tests.evidence.pack_support import completed_access

    request_id = completed_access(world)
    pack = sharing.make_pack(existing(sharing.DataRequest, request_id), Actor("employee", world.dpo))
    db.session.commit()
    real = sharing.pack_path(pack)
    os.utime(real, (OLD, OLD))
    orphan = aged(artifact_dir() / sharing.PACK_DIR / request_id / f"{'a' * 32}.zip.sealed")
    run_periodic(all_due=True)
    assert not orphan.exists() and real.exists()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidencePack)) == 1
