"""Recompute the whole audit log and name the first entry that is not what was written.

Each row's canonical form is rebuilt from its columns and hashed as an RFC 9162 leaf; the stored
``leaf_hash`` must match (an edited row fails here). Sequence numbers must run 1, 2, 3, ... with no
gap (a deleted row fails here). Until signed tree heads pin the order, ``recorded_at`` must not go
backwards by more than a small tolerance (rows whose contents were swapped fail here). The Merkle
tree root over all entries is computed as it goes, in O(log n) memory.

Each stored signed tree head is checked on the way: its signature must hold under the audit signing
key, and its root must equal the root recomputed at its size (a head that no longer matches shows
that entries it covered were changed after it was signed).

Then the log is checked against the witness file (:mod:`portal.audit.witness`), which holds every
head outside the database: a checkpoint there larger than the log (entries cut off the end), one
whose root the log no longer gives (entries rewritten, leaf hashes and all), and one that no stored
head has (heads deleted) are each named; so is a stored head that was never published there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import RowMapping, select

from portal.audit import merkle
from portal.audit import witness as witness_file
from portal.audit.models import AuditEntry, TreeHead
from portal.audit.services import entry_canonical
from portal.config import current_settings
from portal.extensions import db

BATCH = 2000
# Writers stamp the time before they take the append lock, so neighbours may be a little out of
# order in time; anything more than this is reported.
CLOCK_TOLERANCE = timedelta(seconds=2)
MAX_PROBLEMS = 20


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    root: bytes
    first_bad: str | None = None
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)  # the first MAX_PROBLEMS, first_bad among them
    heads: int = 0  # signed tree heads checked
    bad_heads: list[int] = field(default_factory=list)  # ids of the heads that failed
    head_problems: list[str] = field(default_factory=list)  # what was wrong with them (also in problems)
    witness_problems: list[str] = field(default_factory=list)  # the log against the witness file (also in problems)
    # Stored heads missing from the witness file, a record cut short there: what the next
    # publication mends (not in problems, and no reason to stop signing heads).
    unpublished: list[str] = field(default_factory=list)
    checkpoints: int = 0  # witness checkpoints checked


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _head_label(head: TreeHead) -> str:
    return f"tree head {head.id} (size {head.tree_size}, signed {_stamp(head.signed_at)})"


def recomputed_leaves(after: int = 0, upto: int | None = None, *, batch: int = BATCH,
                      progress: Callable[[int], None] | None = None) -> Iterator[tuple[RowMapping, bytes]]:
    """Each entry after seq ``after`` (up to ``upto``, else to the end) in seq order, read straight
    from the database in batches, with the leaf hash recomputed from its content. A missing row
    shows as a jump in seq. ``progress`` is told the last seq of each batch read."""
    table = AuditEntry.__table__
    last_seq = after
    while upto is None or last_seq < upto:
        query = select(table).where(table.c.seq > last_seq)
        if upto is not None:
            query = query.where(table.c.seq <= upto)
        rows = db.session.execute(query.order_by(table.c.seq).limit(batch)).mappings().all()
        if not rows:
            return
        for row in rows:
            entry = AuditEntry(**dict(row))  # transient: never added to the session, never flushed back
            yield row, merkle.leaf_hash(entry_canonical(entry))
        last_seq = rows[-1]["seq"]
        if progress is not None:
            progress(last_seq)


def verify_log(*, batch: int = BATCH, tolerance: timedelta = CLOCK_TOLERANCE,
               progress: Callable[[int], None] | None = None, check_heads: bool = True,
               witness: bool = True, cosigned: Path | None = None,
               cosigner: tuple[str, Ed25519PublicKey] | None = None) -> VerifyResult:
    """Read every audit entry in ``seq`` order (in batches, straight from the database) and check it,
    every signed tree head against the roots recomputed at their sizes, and (``witness``) the log
    and its heads against the witness file; with ``cosigner`` (a name and key), also against the
    checkpoints it co-signed (``cosigned``, by default the witness folder's ``cosigned`` file)."""
    heads = list(db.session.scalars(select(TreeHead).order_by(TreeHead.tree_size, TreeHead.id))) if check_heads else []
    all_heads = list(heads)
    total_heads = len(heads)
    bad_heads: list[int] = []
    head_problems: list[str] = []
    checkpoints: list[witness_file.Checkpoint] = []
    file_problem: str | None = None
    path = witness_file.witness_path(current_settings())
    if check_heads and witness:
        checkpoints, file_problem = witness_file.read_records(path)
    cosigned_records: list[witness_file.Checkpoint] = []
    cosigned_problem: str | None = None
    if cosigner is not None:
        cosigned = cosigned or path.with_name(witness_file.COSIGNED)
        cosigned_records, cosigned_problem = witness_file.read_records(cosigned)
    wanted_roots = {c.size for c in checkpoints} | {c.size for c in cosigned_records}
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    public = None
    key_trouble = "the audit signing key is missing, so its signature cannot be checked"
    if heads or checkpoints or cosigned_records:
        from portal.audit.heads import HeadError, existing_public_key

        try:
            public = existing_public_key()
        except HeadError as exc:
            key_trouble = f"its signature cannot be checked: {exc}"
    tree = merkle.TreeBuilder()
    problems: list[str] = []
    first_bad_seq: int | None = None
    expected = 1
    latest: tuple[datetime, int, str] | None = None  # the latest recorded_at so far: (time, seq, entry_id)

    def problem(seq: int, message: str) -> None:
        nonlocal first_bad_seq
        if first_bad_seq is None:
            first_bad_seq = seq
        if len(problems) < MAX_PROBLEMS:
            problems.append(message)

    def head_problem(head: TreeHead, message: str) -> None:
        if head.id not in bad_heads:
            bad_heads.append(head.id)
        head_problems.append(f"{_head_label(head)}: {message}")
        if len(problems) < MAX_PROBLEMS:
            problems.append(head_problems[-1])

    def check_heads_at(size: int, root: bytes) -> None:
        from portal.audit.heads import key_id, verify_head

        while heads and heads[0].tree_size <= size:
            head = heads.pop(0)
            if public is None:
                head_problem(head, key_trouble)
            elif head.key_id != key_id(public):
                head_problem(head, f"signed by key {head.key_id}, not by the audit signing key {key_id(public)}")
            elif not verify_head(head, public):
                head_problem(head, "its signature is not valid")
            if head.tree_size == size and bytes(head.root_hash) != root:
                head_problem(head, f"no longer matches the log: its root is {bytes(head.root_hash).hex()}, the "
                                   f"entries 1..{size} now give {root.hex()}")

    check_heads_at(0, merkle.EMPTY_ROOT)
    for row, computed in recomputed_leaves(batch=batch, progress=progress):
        seq, entry_id = row["seq"], row["entry_id"]
        if seq != expected:
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            problem(expected, f"{missing} missing: sequence jumps from {expected - 1} to {seq}")
        expected = seq + 1
        if computed != row["leaf_hash"]:
            problem(seq, f"seq {seq} (entry_id {entry_id}): leaf hash does not match its content")
        recorded_at = row["recorded_at"]
        if latest is not None and recorded_at < latest[0] - tolerance:
            problem(seq, f"seq {latest[1]} (entry_id {latest[2]}) and seq {seq} (entry_id {entry_id}): "
                         f"out of order: seq {seq} was recorded at {_stamp(recorded_at)}, before seq "
                         f"{latest[1]} at {_stamp(latest[0])}")
        if latest is None or recorded_at > latest[0]:
            latest = (recorded_at, seq, entry_id)
        tree.append(computed)
        if heads and heads[0].tree_size == tree.size:
            check_heads_at(tree.size, tree.root())
        if tree.size in wanted_roots:
            roots[tree.size] = tree.root()
    for head in heads:  # sizes beyond the end of the log
        head_problem(head, f"covers {head.tree_size} entries, but the log now holds only {tree.size}")
    against = witness_file.WitnessCheck()
    if check_heads and witness:
        against = witness_file.compare(checkpoints, file_problem, path, exists=path.exists(), heads=all_heads,
                                       roots=roots, log_size=tree.size, public=public)
        if cosigner is not None and cosigned is not None:
            against.problems.extend(witness_file.compare_cosigned(
                cosigned_records, cosigned_problem, cosigned, name=cosigner[0], cosigner=cosigner[1], roots=roots,
                log_size=tree.size, public=public))
        problems.extend(against.problems[:max(0, MAX_PROBLEMS - len(problems))])
    ok = not problems and not head_problems and not against.problems and not against.unpublished
    first = problems[0] if problems else (against.unpublished[0] if against.unpublished else None)
    return VerifyResult(ok=ok, entries=tree.size, root=tree.root(), first_bad=first, first_bad_seq=first_bad_seq,
                        problems=problems, heads=total_heads, bad_heads=bad_heads, head_problems=head_problems,
                        witness_problems=against.problems, unpublished=against.unpublished,
                        checkpoints=len(checkpoints))
