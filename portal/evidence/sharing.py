"""Keeping evidence packs and sharing them with a supervisory authority through expiring links.

A pack is written once into the artifact directory (sealed, under a temporary name renamed when
complete, readable by the portal's user only) and recorded with its SHA-256 and the signed tree head its
proofs are against. Every later pack of the same request carries consistency proofs from the heads
of the earlier ones, so a regulator holding an older pack can check that the log only grew.

A share is a link for one authority that works without signing in until it expires or is revoked.
Its token (256 random bits) is shown once, to the DPO who made it; only its SHA-256 is kept, so no
row, backup or audit entry can be turned back into a working link, and the token is never logged.
Every look at the link, every download and every miss is audited.

No function here commits: the caller does, once, at the edge.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update

from portal.audit.models import TreeHead
from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.crypto.keys import SealError, derive_key, seal, unseal
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.files import stale_files, unlink_quietly
from portal.jobs.runners import periodic
from portal.monitoring.artifacts import ORPHAN_AGE_SECONDS, artifact_dir, write_atomically
from portal.people.models import Employee, Role
from portal.rights.models import DataRequest

from .models import AUTHORITY_LABELS, EvidencePack, EvidenceShare

log = logging.getLogger(__name__)

PACK_DIR = "evidence"
DEFAULT_DAYS = 14
MIN_DAYS = 1
MAX_DAYS = 30
TOKEN_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet. Anything else is no token.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SharingError(ValueError):
    """The step cannot be taken as asked; the message says why, for the person."""


class AlreadyRevoked(SharingError):
    """The link was revoked before (by someone else, or in another tab)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _staff_role(actor: Actor) -> str:
    """The role in which ``actor`` acts, as shown next to what they made."""
    if actor.type != "employee" or actor.id is None:
        return actor.type
    staff = db.session.get(Employee, actor.id)
    roles = staff.role_names if staff is not None else set()
    return next((role.value for role in (Role.DPO, Role.ADMIN, Role.AUDITOR) if role in roles), "staff")


def _staff_id(actor: Actor) -> str | None:
    return actor.id if actor.type == "employee" else None


def request_of(pack: EvidencePack) -> DataRequest:
    found = db.session.get(DataRequest, pack.request_id)
    assert found is not None  # noqa: S101 - the foreign key cascades
    return found


# -- packs ------------------------------------------------------------------------------------------

def pack_path(pack: EvidencePack) -> Path:
    """The pack's file; refuses a stored name that would lead outside the artifact directory."""
    root = artifact_dir().resolve()
    path = (root / pack.artifact_key).resolve()
    if root not in path.parents:
        raise FileNotFoundError(pack.id)
    return path


def packs_of(request_id: str) -> list[EvidencePack]:
    """A request's packs, newest first."""
    return list(db.session.scalars(select(EvidencePack).where(EvidencePack.request_id == request_id)
                                   .order_by(EvidencePack.created_at.desc(), EvidencePack.id)))


def earlier_heads(request_id: str) -> list[TreeHead]:
    """The signed heads of a request's stored packs, smallest first (one per head)."""
    return list(db.session.scalars(
        select(TreeHead).where(TreeHead.id.in_(select(EvidencePack.head_id).where(
            EvidencePack.request_id == request_id))).order_by(TreeHead.tree_size, TreeHead.id)))


def _private_dir(path: Path) -> None:
    for directory in (path.parent, path):
        directory.mkdir(exist_ok=True, mode=0o700)


def _pack_cipher() -> AESGCM:
    return AESGCM(derive_key(current_settings().master_key_bytes, "evidence-packs"))


def _pack_aad(pack_id: str) -> bytes:
    return f"evidence-pack:{pack_id}".encode()


def make_pack(request: DataRequest, actor: Actor) -> EvidencePack:
    """Write a new pack of ``request`` into the artifact directory and record it (the pack itself
    audits ``evidence:pack:create``). If the caller's commit fails, it removes the file with
    :func:`discard_file`.

    Like everything in the artifact directory, the file is sealed (AES-256-GCM under a key derived
    from the master key, bound to the pack's id): it holds the controller's reasons and the
    request's timeline. It is opened only to be handed out (:func:`pack_bytes`)."""
    from portal.evidence.pack import write_pack

    pack_id = new_id()
    key = f"{PACK_DIR}/{request.id}/{pack_id}.zip.sealed"
    final = artifact_dir() / key
    _private_dir(final.parent)
    buffer = io.BytesIO()
    result = write_pack(request, buffer, actor=actor, known_heads=earlier_heads(request.id))
    write_atomically(final, seal(_pack_cipher(), buffer.getvalue(), _pack_aad(pack_id)))
    pack = EvidencePack(id=pack_id, request_id=request.id, created_by_id=_staff_id(actor),
                        created_by_role=_staff_role(actor), created_at=utcnow(), filename=result.filename,
                        artifact_key=key, sha256=result.sha256, size=result.size, head_id=result.head_id,
                        tree_size=result.tree_size, entries=result.entries)
    db.session.add(pack)
    db.session.flush()
    log.info("evidence pack %s of request %s written (%s bytes, tree size %s)", pack.id, request.id, pack.size,
             pack.tree_size)
    return pack


def pack_bytes(pack: EvidencePack) -> bytes:
    """The pack's ZIP, opened and checked against its recorded SHA-256 (FileNotFoundError if the
    file is gone, SealError if it was altered)."""
    data = unseal(_pack_cipher(), pack_path(pack).read_bytes(), _pack_aad(pack.id))
    if hashlib.sha256(data).hexdigest() != pack.sha256:  # pragma: no cover - GCM already refuses changes
        raise SealError(f"evidence pack {pack.id} does not match its recorded SHA-256")
    return data


def discard_file(pack: EvidencePack) -> None:
    """Remove the file of a pack whose row was not committed."""
    with contextlib.suppress(FileNotFoundError):
        pack_path(pack).unlink(missing_ok=True)


def record_download(pack: EvidencePack, actor: Actor) -> None:
    """A member of staff downloads a pack."""
    request = request_of(pack)
    record("evidence:pack:download", actor=actor, subject_id=request.subject_id,
           targets={"pack": pack.id, "request": request.id}, details={"sha256": pack.sha256})


# -- shares -----------------------------------------------------------------------------------------

def shares_of(pack_ids: list[str]) -> dict[str, list[EvidenceShare]]:
    """The shares of each pack, newest first."""
    found: dict[str, list[EvidenceShare]] = {pack_id: [] for pack_id in pack_ids}
    if pack_ids:
        for share in db.session.scalars(select(EvidenceShare).where(EvidenceShare.pack_id.in_(pack_ids))
                                        .order_by(EvidenceShare.created_at.desc(), EvidenceShare.id)):
            found[share.pack_id].append(share)
    return found


def _days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise SharingError(f"A link works for {MIN_DAYS} to {MAX_DAYS} days.")
    return days


def share(pack: EvidencePack, authority: str, days: int = DEFAULT_DAYS, *, actor: Actor,
          now: datetime | None = None) -> tuple[EvidenceShare, str]:
    """A new link to ``pack`` for ``authority``, working for ``days`` days. Returns the share and
    its token: the only time the token exists outside the link itself."""
    if authority not in AUTHORITY_LABELS:
        raise SharingError("Choose the supervisory authority the link is for.")
    chosen = authority
    valid_days = _days(days)
    try:
        present = pack_path(pack).is_file()
    except FileNotFoundError:
        present = False
    if not present:
        raise SharingError("This pack's file is missing, so it cannot be shared: make a new pack.")
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = EvidenceShare(id=new_id(), pack_id=pack.id, token_digest=token_digest(token), authority=chosen,
                         created_by_id=_staff_id(actor), created_at=now,
                         expires_at=now + timedelta(days=valid_days), access_count=0)
    db.session.add(link)
    db.session.flush()
    request = request_of(pack)
    record("evidence:share:create", actor=actor, subject_id=request.subject_id,
           targets={"share": link.id, "pack": pack.id, "request": request.id},
           details={"authority": chosen, "days": valid_days, "expires_at": link.expires_at.isoformat()})
    return link, token


def revoke(link: EvidenceShare, actor: Actor, *, now: datetime | None = None) -> None:
    """End a link before its time; it answers 404 from now on, as an unknown one does."""
    if link.revoked_at is not None:
        raise AlreadyRevoked("This link was already revoked.")
    now = now or utcnow()
    link.revoked_at = max(now, link.created_at)
    link.revoked_by_id = _staff_id(actor)
    pack = db.session.get(EvidencePack, link.pack_id)
    assert pack is not None  # noqa: S101 - the foreign key cascades
    request = request_of(pack)
    record("evidence:share:revoke", actor=actor, subject_id=request.subject_id,
           targets={"share": link.id, "pack": pack.id, "request": request.id},
           details={"authority": str(link.authority), "accesses": link.access_count,
                    "had_expired": link.expires_at <= now})


@dataclass(frozen=True)
class Lookup:
    share: EvidenceShare | None
    miss: str | None  # None when the link works; else unknown, expired or revoked

    @property
    def share_if_working(self) -> EvidenceShare | None:
        return self.share if self.miss is None else None


def _lookup(token: str, now: datetime) -> Lookup:
    if not isinstance(token, str) or not TOKEN_SHAPE.match(token):
        return Lookup(None, "unknown")
    digest = token_digest(token)
    found = db.session.scalar(select(EvidenceShare).where(EvidenceShare.token_digest == digest))
    # The lookup goes by the digest of 256 random bits; the comparison of what came back takes
    # the same time whatever it holds.
    if found is None or not hmac.compare_digest(found.token_digest, digest):
        return Lookup(None, "unknown")
    if found.revoked_at is not None:
        return Lookup(found, "revoked")
    if found.expires_at <= now:
        return Lookup(found, "expired")
    return Lookup(found, None)


def open_share(token: str, *, now: datetime | None = None, endpoint: str = "") -> EvidenceShare | None:
    """The share behind a link's token if it still works; None if the token is unknown, or its
    link expired or was revoked."""
    return find_share(token, now=now, endpoint=endpoint).share_if_working


def find_share(token: str, *, now: datetime | None = None, endpoint: str = "") -> Lookup:
    """What a link's token leads to: a working share, or why not (unknown, expired, revoked).
    Only the holder of a real link (256 random bits) can learn that it expired or was revoked,
    so saying so tells nobody anything new. A miss is audited, without the token, with the
    share it named if any."""
    found = _lookup(token, now or utcnow())
    if found.miss is None:
        return found
    subject_id = None
    targets: dict[str, str] = {"type": "evidence_shares", "id": found.share.id if found.share else "-"}
    if found.share is not None:
        pack = db.session.get(EvidencePack, found.share.pack_id)
        if pack is not None:
            subject_id = request_of(pack).subject_id
    record("access:object:refused", actor=Actor.anonymous(), subject_id=subject_id, targets=targets,
           details={"endpoint": endpoint, "reason": found.miss})
    return found


def record_access(link: EvidenceShare, what: Literal["view", "download"], *, now: datetime | None = None) -> None:
    """Someone holding the link looked at its page or downloaded the pack: counted and audited."""
    now = now or utcnow()
    # Counted in SQL, so that two visits at the same moment both count.
    db.session.execute(update(EvidenceShare).where(EvidenceShare.id == link.id).values(
        access_count=EvidenceShare.access_count + 1, last_access_at=now))
    db.session.refresh(link, ["access_count", "last_access_at"])
    pack = db.session.get(EvidencePack, link.pack_id)
    assert pack is not None  # noqa: S101 - the foreign key cascades
    request = request_of(pack)
    record(f"evidence:share:{what}", actor=Actor.anonymous(), subject_id=request.subject_id,
           targets={"share": link.id, "pack": pack.id, "request": request.id},
           details={"authority": str(link.authority), "accesses": link.access_count})


@periodic(every=3600)
def sweep_orphan_packs() -> None:
    """Hourly: pack files that no pack row points to (a process that died between writing the
    file and committing its row) are removed once they are old enough not to be in flight."""
    root = artifact_dir() / PACK_DIR
    if not root.is_dir():
        return
    for folder in (f for f in root.iterdir() if f.is_dir()):
        keep = set(db.session.scalars(select(EvidencePack.id).where(EvidencePack.request_id == folder.name)))
        for path in stale_files(folder, keep, older_than=ORPHAN_AGE_SECONDS, suffix=".zip.sealed"):
            log.info("removing evidence pack file %s: no pack row points to it", path.name)
            unlink_quietly(path)
