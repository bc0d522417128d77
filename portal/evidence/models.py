"""Stored evidence packs and the expiring links that share them with a supervisory authority.

A pack is made once and kept as a file in the artifact directory (its name here is relative to
that directory, so the directory can move); its SHA-256 is recorded so that a DPO can read it out
to the regulator over another channel. A share is a link with a random token: only the token's
SHA-256 is stored, so neither the database nor its backups can be turned back into a working link.
Whom a pack was shared with is a supervisory authority from a fixed list, never a person's name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, CreatedAt, SurrogateId, UTCDateTime
from portal.jurisdictions import sharing_authorities

# Whom a pack may be shared with: the regimes' supervisory authorities, then any other (the registry).
AUTHORITY_LABELS: dict[str, str] = dict(sharing_authorities())


class EvidencePack(Base):
    """One evidence pack of one request, as written by :func:`portal.evidence.pack.write_pack`."""

    __tablename__ = "evidence_packs"

    id: Mapped[SurrogateId]
    request_id: Mapped[str] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_by_role: Mapped[str] = mapped_column(String(16), comment="dpo, admin, auditor or system, when made")
    created_at: Mapped[CreatedAt]
    filename: Mapped[str] = mapped_column(String(120), comment="the name it is downloaded under")
    artifact_key: Mapped[str] = mapped_column(String(200), comment="the file, relative to the artifact directory")
    sha256: Mapped[str] = mapped_column(String(64), comment="hex SHA-256 of the whole ZIP")
    size: Mapped[int] = mapped_column(BigInteger, comment="bytes")
    head_id: Mapped[int] = mapped_column(ForeignKey("tree_heads.id"), comment="the signed head its proofs are against")
    tree_size: Mapped[int] = mapped_column(Integer, comment="the head's tree size")
    entries: Mapped[int] = mapped_column(Integer, comment="audit entries in the pack")

    __table_args__ = (
        Index("ix_evidence_packs_request_created", "request_id", "created_at"),
        CheckConstraint("size > 0 AND tree_size >= 0 AND entries >= 0", name="counts_valid"),
        CheckConstraint("length(sha256) = 64", name="sha256_is_hex_digest"),
    )


class EvidenceShare(Base):
    """An expiring link to one pack, for one supervisory authority."""

    __tablename__ = "evidence_shares"

    id: Mapped[SurrogateId]
    pack_id: Mapped[str] = mapped_column(ForeignKey("evidence_packs.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True,
                                              comment="hex SHA-256 of the link's token; the token is never stored")
    authority: Mapped[str] = mapped_column(String(16), comment="whom the link was made for")
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    access_count: Mapped[int] = mapped_column(Integer, default=0, comment="views of the page and downloads")
    last_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("authority IN ({})".format(", ".join(f"'{code}'" for code in AUTHORITY_LABELS)),
                        name="authority_valid"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        CheckConstraint("revoked_at IS NULL OR revoked_at >= created_at", name="revoked_after_creation"),
        CheckConstraint("access_count >= 0", name="access_count_valid"),
    )

    def is_open(self, now: datetime) -> bool:
        """Does the link still give the pack (not revoked, not expired)?"""
        return self.revoked_at is None and self.expires_at > now
