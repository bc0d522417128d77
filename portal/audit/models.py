from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime


class AuditEntry(Base):
    """One audited fact. Rows are only ever inserted; ``leaf_hash`` seals the canonical entry."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(32), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_type: Mapped[str] = mapped_column(String(16), comment="employee, staff, system or anonymous")
    actor_id: Mapped[str | None] = mapped_column(String(32), comment="surrogate id; never a name or e-mail")
    tag: Mapped[str] = mapped_column(String(64), comment="area:object:action")
    subject_id: Mapped[str | None] = mapped_column(String(32), comment="the employee the entry is about")
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), comment="SHA-256(0x00 || canonical entry)")

    __table_args__ = (
        Index("ix_audit_entries_subject_seq", "subject_id", "seq"),
        Index("ix_audit_entries_tag", "tag"),
    )


class TreeHead(Base):
    """A signed tree head: the Merkle root over the first ``tree_size`` entries, signed with Ed25519.

    Heads are not audit entries (signing one audits nothing); like the entries they are only ever
    inserted, and on PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE."""

    __tablename__ = "tree_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(Integer, comment="the number of entries (seq 1..tree_size) covered")
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32), comment="RFC 9162 Merkle tree hash")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(64), comment="first 16 hex digits of SHA-256 of the public key")
    signature: Mapped[bytes] = mapped_column(LargeBinary(64), comment="Ed25519 over the canonical head bytes")

    __table_args__ = (Index("ix_tree_heads_tree_size", "tree_size"),)


class TreeNode(Base):
    """The hash of one perfect subtree of the audit log's Merkle tree, kept so that proofs take
    O(log n) reads instead of rehashing every entry. Level ``k``, index ``i`` covers the entries with
    seq ``i * 2**k + 1`` to ``(i + 1) * 2**k``; level 0 is the entries' own ``leaf_hash``, so it is not
    stored here. Derived from the entries and never changed; a wrong node can only make a proof fail
    against its signed head, never make a bad entry pass."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
