"""Exports: asked for (from the employee's page or the shell), built by a job, downloaded by the
owner only, deleted when they expire."""

from __future__ import annotations

import logging
import os
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.crypto.keys import KeyDestroyed, archive_cipher_after_erasure
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.files import unlink_quietly
from portal.i18n.statements import statement
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import periodic
from portal.jurisdictions import controller_for
from portal.monitoring.access import SHELL_COPY
from portal.monitoring.artifacts import artifact_dir
from portal.monitoring.models import DataCategory
from portal.people.models import Employee

from .models import Export, ExportDownload, ExportState
from .package import PackageWriter, Scope
from .signals import export_delivered, export_failed, export_finished

log = logging.getLogger(__name__)

JOB_KIND = "exports.build"
MAX_ACTIVE_PER_SUBJECT = 2
SUFFIX = ".zip.sealed"


class ExportError(ValueError):
    """The export cannot be asked for as given; the message says why, for the person."""


def exports_dir(subject_id: str) -> Path:
    return artifact_dir() / "exports" / subject_id


def artifact_path(export: Export) -> Path | None:
    return exports_dir(export.subject_id) / export.artifact_name if export.artifact_name else None


def categories_available() -> list[DataCategory]:
    return list(db.session.scalars(select(DataCategory).order_by(DataCategory.sort_order, DataCategory.key)))


def request_export(subject: Employee, *, categories: list[str] | None = None, date_from: date | None = None,
                   date_to: date | None = None, actor: Actor, origin: str = "portal", dispatch: bool = True,
                   request_id: str | None = None) -> Export:
    """Ask for an export (all categories unless some are chosen); the job is dispatched after the
    commit (``dispatch=False``: the caller runs it itself, as the shell does). ``request_id``: the
    access request a DPO approved, which the finished export completes."""
    known = [c.key for c in categories_available()]
    chosen = known if not categories else [k for k in known if k in set(categories)]
    if categories and len(chosen) != len(set(categories)):
        raise ExportError("Some of the chosen categories do not exist.")
    if date_from and date_to and date_from > date_to:
        raise ExportError("The start date is after the end date.")
    today = utcnow().date()
    if date_from and date_from > today:
        raise ExportError("The start date is in the future: there is nothing to export yet.")
    # Exports in hand: queued, or running under a live lease. One whose worker died (a killed
    # `export run`, its lease expired) does not hold a place; the sweep takes it up again. The
    # employee's row is locked first (PostgreSQL), so that exports asked for at the same moment
    # are counted one after the other.
    db.session.execute(select(Employee.id).where(Employee.id == subject.id).with_for_update())
    active = db.session.scalar(select(db.func.count()).select_from(Export).join(Job, Job.id == Export.job_id).where(
        Export.subject_id == subject.id, Export.state.in_([ExportState.QUEUED, ExportState.RUNNING]),
        or_(Job.state != JobState.RUNNING, Job.lease_expires_at.is_(None), Job.lease_expires_at >= utcnow())))
    active = active or 0
    if active >= MAX_ACTIVE_PER_SUBJECT and request_id is None:
        raise ExportError("Two exports are already being prepared; wait for them to finish.")
    export_id = new_id()
    job = jobs.enqueue(JOB_KIND, params={"export_id": export_id}, owner_id=subject.id, dispatch=dispatch)
    export = Export(id=export_id, subject_id=subject.id, categories=chosen, date_from=date_from, date_to=date_to,
                    date_zone=(subject.timezone or "UTC") if (date_from or date_to) else None, origin=origin, state=ExportState.QUEUED, job_id=job.id, request_id=request_id)
    db.session.add(export)
    db.session.flush()
    record("exports:export:request", actor=actor, subject_id=subject.id, targets={"export": export.id, "job": job.id},
           details={"categories": chosen, "date_from": date_from.isoformat() if date_from else None,
                    "date_to": date_to.isoformat() if date_to else None, "origin": origin})
    return export


def exports_of(subject_id: str, limit: int = 20) -> list[Export]:
    return list(db.session.scalars(select(Export).where(Export.subject_id == subject_id)
                                   .order_by(Export.created_at.desc(), Export.id.desc()).limit(limit)))


def downloads_of(export_ids: list[str]) -> dict[str, list[datetime]]:
    found: dict[str, list[datetime]] = {i: [] for i in export_ids}
    if export_ids:
        for export_id, at in db.session.execute(
                select(ExportDownload.export_id, ExportDownload.downloaded_at)
                .where(ExportDownload.export_id.in_(export_ids)).order_by(ExportDownload.downloaded_at.desc())):
            found[export_id].append(at)
    return found


@dataclass
class Status:
    state: str
    percent: int | None
    done: int
    total: int | None
    error: str | None


def status(export: Export) -> Status:
    job = db.session.get(Job, export.job_id)
    if export.state in (ExportState.READY, ExportState.EXPIRED):
        state = "erased" if export.erased_by_request_id else str(export.state)
        return Status(state, 100, job.progress_done if job else 0, job.progress_total if job else None,
                      None)
    if job is None:
        return Status(str(export.state), None, 0, None, export.error)
    state = str(export.state)
    if export.state == ExportState.QUEUED and job.state == "running":
        state = "running"
    if job.state == "queued" and job.attempts and job.error:  # an attempt failed (the export may say running)
        state = "retrying"
    return Status(state, job.percent, job.progress_done, job.progress_total, export.error or (
        job.error if state == "retrying" else None))


# -- the job --------------------------------------------------------------------------------------

def _temp_name(export_id: str, token: str) -> str:
    return f".{export_id}-{token[:12]}.tmp"


def _discard_leftovers(directory: Path, export_id: str, keep: str | None = None) -> None:
    """Remove what earlier attempts at this export left (temporary or unrecorded files)."""
    if not directory.exists():
        return
    for path in directory.iterdir():
        if (path.name.startswith(f".{export_id}-") or path.name.startswith(f"{export_id}-")) and path.name != keep:
            unlink_quietly(path)


def _give_up(job: Job, reason: str) -> None:
    export = db.session.scalar(select(Export).where(Export.job_id == job.id))
    if export is None:
        return
    export.state = ExportState.FAILED
    export.error = reason
    export_failed.send(export, reason=reason)
    record("exports:export:fail", actor=Actor.system(), subject_id=export.subject_id,
           targets={"export": export.id, "job": job.id}, details={"attempts": job.attempts})


@jobs.handler(JOB_KIND, on_give_up=_give_up)
def build(ctx: jobs.JobContext) -> dict[str, Any]:
    """Write the package under a temporary name, rename it when complete, and record it in the
    transaction that completes the job. Runs again from the start after a crash: what an
    earlier attempt left is removed first, and only a committed export names its file."""
    export = db.session.get(Export, ctx.params["export_id"])
    if export is None:
        raise jobs.JobError("The export was removed before it could be made.", retry=False)
    if export.state in (ExportState.READY, ExportState.EXPIRED):
        return {"export_id": export.id, "already": True}
    if export.state == ExportState.FAILED:  # cancelled meanwhile (an erasure)
        return {"export_id": export.id, "cancelled": True}
    subject = db.session.get(Employee, export.subject_id)
    if subject is None:
        raise jobs.JobError("The employee no longer exists.", retry=False)
    export_id, subject_id = export.id, subject.id
    directory = exports_dir(subject_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _discard_leftovers(directory, export_id)
    final_name = f"{export_id}-{ctx.token[:12]}{SUFFIX}"
    temp = directory / _temp_name(export_id, ctx.token)
    final = directory / final_name
    ctx.on_rollback.append(lambda: unlink_quietly(temp))
    ctx.on_rollback.append(lambda: unlink_quietly(final))
    export.state = ExportState.RUNNING
    db.session.commit()
    pause_ms = current_settings().export_pause_ms
    subject = db.session.get(Employee, subject_id)
    export = db.session.get(Export, export_id)
    assert subject is not None and export is not None  # noqa: S101 - read just now
    scope = Scope(list(export.categories), export.date_from, export.date_to, export.date_zone or "UTC")
    writer = PackageWriter(subject, export_id, scope, spool_dir=directory,
                           progress=lambda done, total: ctx.progress(done, total),
                           pause=(lambda: clock.sleep(pause_ms / 1000)) if pause_ms else None,
                           dpo_contact=current_settings().dpo_contact,
                           controller=controller_for(current_settings().controllers, subject.jurisdiction).name)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            written = writer.write(out)
            out.flush()
            os.fsync(out.fileno())
    except KeyDestroyed:  # rows remain whose key is gone: they can never be read, retrying cannot help
        raise jobs.JobError("Some of your data can no longer be read (its key was destroyed), so this copy "
                            "cannot be made; the Data Protection Officer can tell you more.", retry=False) from None
    os.replace(temp, final)
    now = utcnow()
    export = db.session.get(Export, export_id, populate_existing=True, with_for_update=True)
    assert export is not None  # noqa: S101
    if export.state == ExportState.FAILED:  # an erasure cancelled it while it was being written
        unlink_quietly(final)
        return {"export_id": export_id, "cancelled": True}
    export.state = ExportState.READY
    export.artifact_name = final_name
    export.artifact_sha256 = written.sha256
    export.artifact_bytes = written.size
    export.counts = written.counts
    export.completed_at = now
    export.expires_at = now + timedelta(days=current_settings().export_days)
    export.error = None
    # The access request it fulfils is completed, or one is recorded (portal.rights.on_exports).
    export_finished.send(export, subject=subject, counts=written.counts, days=current_settings().export_days)
    request_id = export.request_id
    record("exports:export:complete", actor=Actor.system(), subject_id=subject_id,
           targets={"export": export_id, "job": ctx.job_id, **({"request": request_id} if request_id else {})},
           details={"sha256": written.sha256, "files": len(written.files), **{
               f"count_{k}": v for k, v in written.counts.items()}})
    return {"export_id": export_id, "files": len(written.files)}


def record_shell_delivery(export: Export) -> None:
    """An operator's copy (``export run``) was written to its file: only now is it an access given
    to the employee's data, recorded as a completed access request and in their access log. A run
    that failed to deliver records none of it. The caller commits."""
    from portal.monitoring.access import record_access

    subject = db.session.get(Employee, export.subject_id)
    assert subject is not None  # noqa: S101 - the export's own subject
    export_delivered.send(export, subject=subject)  # recorded as an access request (portal.rights.on_exports)
    assert export.request_id is not None  # noqa: S101 - the requests domain is registered with the app
    record_access(subject.id, accessor_id=None, accessor_role="system", action="exported",
                  purpose=statement(SHELL_COPY), case_ref=export.request_id[:12])


# -- download -------------------------------------------------------------------------------------

def is_downloadable(export: Export) -> bool:
    return export.state == ExportState.READY and export.expires_at is not None and export.expires_at > utcnow()


def open_download(export: Export) -> Iterator[bytes]:
    """The archive's plaintext, chunk by chunk, each verified before it is released."""
    from portal.crypto import keystore

    path = artifact_path(export)
    if path is None:
        raise FileNotFoundError(export.id)
    source = open(path, "rb")  # noqa: SIM115 - closed when the generator ends
    try:
        cipher = keystore().cipher(export.subject_id)
    except KeyDestroyed:  # made after an erasure: sealed with the archive key (portal.crypto.keys)
        cipher = archive_cipher_after_erasure(export.subject_id)
    reader = cipher.stream_reader(source, "export", export.id)

    def chunks() -> Iterator[bytes]:
        try:
            yield from reader
        finally:
            source.close()

    return chunks()


def record_download(export: Export, *, actor: Actor) -> None:
    db.session.add(ExportDownload(export_id=export.id))
    record("exports:export:download", actor=actor, subject_id=export.subject_id, targets={"export": export.id})


# -- clean-up -------------------------------------------------------------------------------------

@periodic
def delete_expired(now: datetime | None = None) -> int:
    """Delete the archives of expired exports (and mark them expired). Safe to run any time."""
    now = now or utcnow()
    expired = list(db.session.scalars(select(Export).where(Export.state == ExportState.READY,
                                                           Export.expires_at <= now)))
    for export in expired:
        path = artifact_path(export)
        if path is not None:
            unlink_quietly(path)
        export.state = ExportState.EXPIRED
        export.deleted_at = now
        record("exports:export:expire", actor=Actor.system(), subject_id=export.subject_id,
               targets={"export": export.id})
        db.session.commit()
    return len(expired)
