"""One export package: which files go into it, their names and contents, and the manifest.

Rows are read in keyset batches and written straight into the archive, a ZIP streamed into a
sealed file with flat memory (:mod:`portal.exports.streaming`, which knows nothing about what the
package holds). Each category's data goes out as JSON Lines and as CSV in one pass over the rows.
A large category's events are opened and formatted by worker processes
(:mod:`portal.exports.formatting`) while this one reads, compresses, hashes and seals; their data
key goes to them over a pipe.

Layout (see :data:`COLUMNS` for the columns of each data file)::

    report.pdf                      the human-readable report
    index.html                      browse the package offline
    manifest.json                   every file's SHA-256 and size, and the counts
    data/<category>.jsonl|.csv      input_events, app_activity, screenshots, ai_training_use
    data/consent_history.jsonl|.csv
    data/access_log.jsonl|.csv
    derived/<name>.jsonl|.csv       counts the portal derives from the events (see DERIVED_FILES)
    screenshots/<time>-<id>.<ext>   the images
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
from flask_babel import force_locale
from sqlalchemy import Engine, select, text, tuple_

from portal.consent.models import ConsentEvent
from portal.crypto import keystore
from portal.crypto.keys import KeyDestroyed, SealError, SubjectCipher, archive_cipher_after_erasure
from portal.db import UTCDateTime
from portal.extensions import db
from portal.i18n import person_language
from portal.jurisdictions import regime_for
from portal.monitoring import aggregates
from portal.monitoring.models import (
    AccessRecord,
    ActivityEvent,
    DataCategory,
    EventKind,
    Screenshot,
)
from portal.monitoring.services import ScreenshotUnavailable, open_screenshot
from portal.people.models import Employee
from portal.training.services import TrainingUse as LedgerUse
from portal.training.services import uses_of

from .formatting import EventFormatter, Formatted, FormatterPool, Unsealable, format_batch
from .streaming import (
    HashingEntry,
    Progress,
    SealedZip,
    Spool,
    keyset_rows,
    prefetch,
    reading_connection,
    usable_cores,
    write_table,
)
from .summary import (
    AccessLine,
    CategorySection,
    ConsentLine,
    ExportSummary,
    PackageFile,
    ProfilingLine,
    TrainingUse,
)

BATCH_ROWS = 2_000
# A category with at least this many events is opened and formatted by worker processes (see
# portal.exports.formatting); below it, starting them would cost more than it saves.
POOL_MIN_ROWS = 20_000
POOL_WORKERS = 2  # at most one a core; on two cores, two workers beside this process did best
FORMAT = "portal-export/1"
EVENT_CATEGORIES = ("input_events", "app_activity")
CATEGORY_KINDS = {key: [k.value for k in EventKind if k.category.value == key] for key in EVENT_CATEGORIES}
MEDIA_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

# The columns of each data file, in order: documented in the report, the index and the README.
EVENT_COLUMNS = ("id", "occurred_at", "category", "kind", "application", "site_domain", "duration_ms", "url",
                 "title", "x", "y", "payload", "source_event_id", "ingested_at")
COLUMNS: dict[str, tuple[str, ...]] = {
    "input_events": EVENT_COLUMNS,
    "app_activity": EVENT_COLUMNS,
    "screenshots": ("id", "captured_at", "application", "site_domain", "media_type", "width", "height",
                    "byte_size", "file", "source_id", "ingested_at"),
    "ai_training_use": ("dataset", "snapshot", "record_count", "used_on", "model", "removal_required_at"),
    "consent_history": ("decided_at", "purpose", "decision", "policy_version", "method", "device"),
    "access_log": ("accessed_at", "action", "accessor_role", "purpose", "case_ref"),
    "activity_per_day": ("day", "events"),
    "activity_per_hour": ("hour", "events"),
    "time_per_application_and_site": ("kind", "name", "duration_ms", "events"),
    "items_per_category": ("category", "items", "first_at", "last_at"),
}
log = logging.getLogger(__name__)
EXTRA_FILES = {
    "consent_history": "Every consent you gave or withdrew, oldest first",
    "access_log": "Each time staff opened or exported your monitoring data (no staff names)",
}
# What the portal derives from the events and keeps (portal.monitoring.aggregates; the dashboard
# shows it): written under derived/, whatever categories were chosen.
DERIVED_FILES = {
    "activity_per_day": "Derived: events recorded per day in your time zone, for the dates of this copy "
                        "(days without events left out)",
    "activity_per_hour": "Derived: events recorded per hour of the day (0-23) in your time zone, totals over all "
                         "time, not only the dates of this copy",
    "time_per_application_and_site": "Derived: time in focus (milliseconds) and events per application (kind app) "
                                     "and web site (kind site), totals over all time, not only the dates of this copy",
    "items_per_category": "Derived: items collected per category of data, with the first and last, totals over all "
                          "time, not only the dates of this copy",
}


def iso(value: datetime | date | None) -> str | None:
    """UTC ISO-8601 with a Z for times, YYYY-MM-DD for dates."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value.isoformat()


@dataclass
class Scope:
    """What an export holds: categories, and days (in ``zone``, the person's time zone when they
    asked) from ``date_from`` to ``date_to`` inclusive."""

    categories: list[str]
    date_from: date | None = None
    date_to: date | None = None
    zone: str = "UTC"

    @property
    def start(self) -> datetime | None:
        if not self.date_from:
            return None
        return datetime.combine(self.date_from, time.min, tzinfo=aggregates.zone_of(self.zone)).astimezone(UTC)

    @property
    def end(self) -> datetime | None:
        """Exclusive: the start of the day after ``date_to``."""
        if not self.date_to:
            return None
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=aggregates.zone_of(self.zone)).astimezone(UTC)


@dataclass
class Written:
    sha256: str
    size: int
    files: list[PackageFile] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class PackageWriter:
    """Writes one subject's package into ``out`` (a binary file), sealed with the subject key."""

    def __init__(self, subject: Employee, export_id: str, scope: Scope, *, spool_dir: Path,
                 progress: Callable[[int, int], None] | None = None, pause: Callable[[], None] | None = None,
                 dpo_contact: str = "", controller: str = "") -> None:
        self.subject = subject
        self.controller = controller
        self.export_id = export_id
        self.scope = scope
        self.spool_dir = spool_dir
        try:
            self._data_key: bytes | None = keystore().data_key(subject.id)  # for the formatting workers
        except KeyDestroyed:  # erased: nothing sealed with it is left, what remains is exported
            self._data_key = None
        self.cipher = SubjectCipher(subject.id, self._data_key) if self._data_key is not None else None
        self.archive_cipher = self.cipher or archive_cipher_after_erasure(subject.id)
        self._progress_cb = progress or (lambda done, total: None)
        self._pause = pause or (lambda: None)
        self.dpo_contact = dpo_contact
        self.files: list[PackageFile] = []
        self.purposes: list[str] = []  # each access record's purpose, worded in the person's language
        self.unavailable: list[dict[str, Any]] = []  # screenshots whose stored file is missing or damaged
        self.counts: dict[str, int] = {}
        self.firsts: dict[str, datetime | None] = {}
        self.lasts: dict[str, datetime | None] = {}
        self.last_text: dict[str, str] = {}
        self._expected: dict[str, int] = {}  # events per category, as counted for the progress bar
        self._daily: list[tuple[date, int]] = []  # events per local day in the dates asked (the aggregate)
        self._hourly: list[int] = [0] * 24  # events per local hour of the day, over all time
        self._encode = msgspec.json.Encoder()

    # -- counting ---------------------------------------------------------------------------
    def _event_filter(self, category: str) -> list[Any]:
        conditions = [ActivityEvent.subject_id == self.subject.id,
                      ActivityEvent.kind.in_(CATEGORY_KINDS[category])]
        if self.scope.start:
            conditions.append(ActivityEvent.occurred_at >= self.scope.start)
        if self.scope.end:
            conditions.append(ActivityEvent.occurred_at < self.scope.end)
        return conditions

    def _shot_filter(self) -> list[Any]:
        conditions = [Screenshot.subject_id == self.subject.id]
        if self.scope.start:
            conditions.append(Screenshot.captured_at >= self.scope.start)
        if self.scope.end:
            conditions.append(Screenshot.captured_at < self.scope.end)
        return conditions

    def _total_items(self) -> int:
        """Items to write, for the progress bar: from the totals table when every date is asked
        for, else counted on the (subject, kind, time) index."""
        from sqlalchemy import func

        from portal.monitoring.models import SubjectCategoryStats

        total = 0
        for category in EVENT_CATEGORIES:
            if category not in self.scope.categories:
                continue
            count = 0
            if self.scope.start is None and self.scope.end is None:
                count = db.session.scalar(select(SubjectCategoryStats.item_count).where(
                    SubjectCategoryStats.subject_id == self.subject.id,
                    SubjectCategoryStats.category == category)) or 0
            else:
                with reading_connection(db.engine) as conn:
                    for kind in CATEGORY_KINDS[category]:
                        count += conn.execute(select(func.count()).select_from(ActivityEvent).where(
                            *self._event_filter(category), ActivityEvent.kind == kind)).scalar() or 0
            self._expected[category] = count
            total += count
        if "screenshots" in self.scope.categories:
            total += db.session.scalar(select(func.count()).select_from(Screenshot).where(*self._shot_filter())) or 0
        return total

    # -- rows -------------------------------------------------------------------------------
    def _event_batches(self, category: str) -> Iterator[Formatted]:
        """The category's events, oldest first, in batches of :data:`BATCH_ROWS`, decrypted.

        Each kind is read on the (subject, kind, time, id) index by keyset, and the kinds are
        merged by time, so no row of another category is ever read. Plain SQL, without the ORM's
        per-value processing (at a million rows it costs more than the decryption): the database
        formats the times, and the keyset carries on from the driver's own values. Set up here;
        the returned generator may run in another thread."""
        bind = db.session.get_bind()
        engine = db.engine
        kinds = CATEGORY_KINDS[category]
        counts = self._category_counts()
        by_time = counts.get(category, 0) * 2 > sum(counts.get(c, 0) for c in EVENT_CATEGORIES)
        if by_time:  # most of the subject's events: one pass over the time index, other kinds skipped
            kind_params = {f"k{i}": k for i, k in enumerate(kinds)}
            where = [f"subject_id = :subject AND kind IN ({', '.join(':' + k for k in kind_params)})"]
            params: dict[str, Any] = {"subject": self.subject.id, "limit": BATCH_ROWS, **kind_params}
        else:  # a minority: each kind on the (subject, kind, time) index, merged by time
            where = ["subject_id = :subject AND kind = :kind"]
            params = {"subject": self.subject.id, "limit": BATCH_ROWS}
        time_type = UTCDateTime()  # the column's type: the bounds as it stores times
        dialect = bind.dialect
        if self.scope.start:
            where.append("occurred_at >= :start")
            params["start"] = time_type.process_bind_param(self.scope.start, dialect)
        if self.scope.end:
            where.append("occurred_at < :end")
            params["end"] = time_type.process_bind_param(self.scope.end, dialect)
        text_times = bind.dialect.name == "sqlite"
        if text_times:  # stored as UTC text: only the separator and the zone differ, put right by the formatter
            shown = "NULL, ingested_at"
        else:
            shown = ("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
                     "to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        # Fixed SQL text chosen above; every value is a bound parameter.
        select_part = ("SELECT occurred_at, id, kind, app_bidx, site_bidx, duration_ms, sealed, "  # noqa: S608
                       "source_event_id, " + shown + ", sealed_names" + " FROM activity_events WHERE " + " AND ".join(where))
        first = text(select_part + " ORDER BY occurred_at, id LIMIT :limit")
        following = text(select_part + " AND (occurred_at, id) > (:after_time, :after_id)"
                         " ORDER BY occurred_at, id LIMIT :limit")
        expected = self._expected.get(category, counts.get(category, 0))
        return self._batches_from(engine, first, following, params, category, [None] if by_time else kinds,
                                  pooled=expected >= POOL_MIN_ROWS, text_times=text_times)

    def _category_counts(self) -> dict[str, int]:
        """The subject's events per category, every date (from the totals table)."""
        from portal.monitoring.models import SubjectCategoryStats

        return dict(db.session.execute(select(SubjectCategoryStats.category, SubjectCategoryStats.item_count)
                                       .where(SubjectCategoryStats.subject_id == self.subject.id)).tuples().all())

    def _batches_from(self, engine: Engine, first: Any, following: Any, params: dict[str, Any],
                      category: str, kinds: list[str] | list[None], *, pooled: bool = False,
                      text_times: bool = False) -> Iterator[Formatted]:
        """Read, open and format. Rows are read here, in batches of :data:`BATCH_ROWS`; with
        ``pooled`` (a large category) worker processes open and format them, a few batches ahead,
        and hand them back in order; otherwise they are formatted here."""
        with contextlib.ExitStack() as stack:
            pool = self._pool(stack, text_times) if pooled else None
            conn = stack.enter_context(reading_connection(engine))
            streams = [keyset_rows(conn, first, following, {**params, "kind": kind} if kind else dict(params))
                       for kind in kinds]
            merged = heapq.merge(*streams) if len(streams) > 1 else streams[0]
            raw_batches = iter(lambda: list(itertools.islice(merged, BATCH_ROWS)), [])
            batches: Iterator[Formatted]
            if self._data_key is None:
                batches = (self._without_key(raw) for raw in raw_batches)
            elif pool is not None:
                batches = pool.map((raw, category) for raw in raw_batches)
            else:
                formatter = EventFormatter(self._data_key, self.subject.id, text_times=text_times)
                batches = (formatter.format(raw, category) for raw in raw_batches)
            try:
                for batch in batches:
                    yield batch
                    self._pause()
            except Unsealable as exc:  # raised in a worker or here: the portal's own error, as elsewhere
                raise SealError(str(exc)) from None
            finally:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()

    def _without_key(self, raw: list[Any]) -> Formatted:
        """Rows sealed with a key that was destroyed: none should be left (the key goes only once
        nothing of the person's monitoring data remains)."""
        raise KeyDestroyed(self.subject.id)

    def _pool(self, stack: contextlib.ExitStack, text_times: bool) -> FormatterPool | None:
        """Formatting workers, stopped when ``stack`` closes; None if they cannot be started here."""
        if self._data_key is None:
            return None
        try:
            return stack.enter_context(FormatterPool(self._data_key, self.subject.id, min(POOL_WORKERS, usable_cores()),
                                                     text_times=text_times))
        except OSError:  # WorkersUnavailable among them
            log.warning("export workers could not be started; formatting in this process", exc_info=True)
            return None

    def _screenshots(self) -> Iterator[Screenshot]:
        after: tuple[datetime, str] | None = None
        while True:
            query = select(Screenshot).where(*self._shot_filter())
            if after is not None:
                query = query.where(tuple_(Screenshot.captured_at, Screenshot.id) > after)
            shots = list(db.session.scalars(query.order_by(Screenshot.captured_at, Screenshot.id).limit(100)))
            for shot in shots:
                db.session.expunge(shot)
            db.session.rollback()
            if not shots:
                return
            yield from shots
            after = (shots[-1].captured_at, shots[-1].id)

    # -- writing ----------------------------------------------------------------------------
    def _record(self, path: str, entry: HashingEntry, description: str, rows: int | None) -> None:
        self.files.append(PackageFile(path=path, description=description, rows=rows, size=entry.size,
                                      sha256=entry.hash.hexdigest()))

    def _write_table(self, archive: SealedZip, name: str, description: str,
                     batches: Iterable[Formatted], *, large: bool = False,
                     on_batch: Callable[[Formatted], None] | None = None, folder: str = "data") -> int:
        """``<folder>/<name>.jsonl`` and ``<folder>/<name>.csv``, both recorded for the manifest."""
        columns = COLUMNS[name]
        jsonl_path, csv_path = f"{folder}/{name}.jsonl", f"{folder}/{name}.csv"
        count, jsonl, table = write_table(archive, jsonl_path, csv_path, columns, batches, spool_dir=self.spool_dir,
                                          large=large, on_batch=on_batch)
        self._record(jsonl_path, jsonl, f"{description} (JSON Lines: one JSON object per line)", count)
        self._record(csv_path, table, f"{description} (CSV, UTF-8, header row: {', '.join(columns)})", count)
        return count

    def _rows(self, name: str, objects: Iterable[dict[str, Any]]) -> list[Formatted]:
        """Small tables: one batch, JSON values in CSV cells as JSON text."""
        columns = COLUMNS[name]
        encode = self._encode.encode
        return [format_batch([(obj, tuple(encode(v).decode() if isinstance(v, dict | list) else v
                                          for v in (obj.get(c) for c in columns))) for obj in objects])]

    def write(self, out: BinaryIO) -> Written:
        stamp = datetime.now(UTC).timetuple()[:6]
        generated_at = datetime.now(UTC)
        register = {c.key: c for c in db.session.scalars(
            select(DataCategory).order_by(DataCategory.sort_order, DataCategory.key))}
        progress = Progress(total=self._total_items(), report=self._progress_cb)
        progress.report(0, progress.total)
        with SealedZip(self.archive_cipher.stream_writer(out, "export", self.export_id), stamp) as archive:
            for category in EVENT_CATEGORIES:
                if category not in self.scope.categories:
                    continue

                def seen(batch: Formatted, category: str = category) -> None:
                    progress.add(batch.count)
                    self._seen(category, batch.first)
                    self._seen(category, batch.last)

                self.counts[category] = self._write_table(
                    archive, category, register[category].name, prefetch(self._event_batches(category)), large=True,
                    on_batch=seen)
            if "screenshots" in self.scope.categories:
                self.counts["screenshots"] = self._write_screenshots(archive, register["screenshots"].name, progress)
            uses = self._training_uses() if "ai_training_use" in self.scope.categories else []
            if "ai_training_use" in self.scope.categories:
                self.counts["ai_training_use"] = self._write_table(
                    archive, "ai_training_use", register["ai_training_use"].name,
                    self._rows("ai_training_use", ({"dataset": u.dataset, "snapshot": u.snapshot,
                                                    "record_count": u.record_count, "used_on": iso(u.used_on),
                                                    "model": u.model,
                                                    "removal_required_at": iso(u.removal_required_at)}
                                                   for u in uses)))
                if uses:
                    self.firsts["ai_training_use"] = datetime.combine(min(u.used_on for u in uses), time.min, UTC)
                    self.lasts["ai_training_use"] = datetime.combine(max(u.used_on for u in uses), time.min, UTC)
            consents = self._consent_history()
            self._write_table(archive, "consent_history", EXTRA_FILES["consent_history"], self._rows(
                "consent_history", ({"decided_at": iso(c.decided_at), "purpose": c.purpose, "decision": c.decision,
                                     "policy_version": c.policy_version, "method": c.method, "device": c.device}
                                    for c in consents)))
            accesses = self._access_log()
            with force_locale(person_language(self.subject)):  # the purposes in the person's language
                self.purposes = [a.purpose for a in accesses]
            self._write_table(archive, "access_log", EXTRA_FILES["access_log"], self._rows(
                "access_log", ({"accessed_at": iso(a.accessed_at), "action": a.action,
                                "accessor_role": a.accessor_role, "purpose": purpose, "case_ref": a.case_ref}
                               for a, purpose in zip(accesses, self.purposes, strict=True))))
            for name, rows in self._derived(generated_at).items():
                self._write_table(archive, name, DERIVED_FILES[name], self._rows(name, rows), folder="derived")

            summary = self._summary(register, generated_at, uses, consents, accesses)
            from portal.exports.index_page import render_index
            from portal.exports.report import write_report

            member, entry = archive.member("report.pdf")
            with member:
                write_report(summary, entry)  # type: ignore[arg-type]
            report_file = PackageFile("report.pdf", "The report: what is collected about you, why, and this copy",
                                      None, entry.size, entry.hash.hexdigest())
            member, entry = archive.member("index.html")
            with member:
                entry.write(render_index(summary))
            index_file = PackageFile("index.html", "Open this in a browser to look through the package offline",
                                     None, entry.size, entry.hash.hexdigest())
            files = [report_file, index_file, *self.files]
            manifest = {
                "format": FORMAT,
                "export_id": self.export_id,
                "subject_id": self.subject.id,
                "generated_at": iso(generated_at),
                "scope": {"categories": self.scope.categories, "date_from": iso(self.scope.date_from),
                          "date_to": iso(self.scope.date_to)},
                "counts": self.counts,
                **({"unavailable": self.unavailable} if self.unavailable else {}),
                "files": [{"path": f.path, "sha256": f.sha256, "bytes": f.size,
                           **({"rows": f.rows} if f.rows is not None else {})} for f in files],
            }
            member, entry = archive.member("manifest.json")
            with member:
                entry.write(json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n")
        return Written(sha256=archive.sha256, size=archive.size, files=files, counts=self.counts)

    def _seen(self, category: str, when: str) -> None:
        # Rows come oldest first: the first seen is the first, each later one the last so far
        # (kept as text and parsed once, at the end).
        if self.firsts.get(category) is None:
            self.firsts[category] = datetime.fromisoformat(when)
        self.last_text[category] = when

    def _write_screenshots(self, archive: SealedZip, description: str, progress: Progress) -> int:
        spool_rows = Spool(self.spool_dir)
        count = 0
        for shot in self._screenshots():
            ext = MEDIA_EXTENSIONS.get(shot.media_type, "bin")
            path = f"screenshots/{shot.captured_at.strftime('%Y%m%dT%H%M%SZ')}-{shot.id[:8]}.{ext}"
            try:
                image = open_screenshot(shot, self.cipher)
            except ScreenshotUnavailable as exc:  # left out and said so; the rest of the copy is whole
                log.warning("export %s: screenshot %s left out: %s", self.export_id, shot.id[:8], exc)
                self.unavailable.append({"id": shot.id, "captured_at": iso(shot.captured_at), "reason": str(exc)})
                progress.add()
                continue
            member, entry = archive.member(path, compress=False)
            with member:
                entry.write(image)
            shot.reveal_names(self.cipher)
            where = shot.site_domain or shot.application
            self._record(path, entry, f"Screenshot of {where} at {iso(shot.captured_at)}", None)
            row = {"id": shot.id, "captured_at": iso(shot.captured_at), "application": shot.application,
                   "site_domain": shot.site_domain, "media_type": shot.media_type, "width": shot.width,
                   "height": shot.height, "byte_size": shot.byte_size, "file": path, "source_id": shot.source_id,
                   "ingested_at": iso(shot.ingested_at)}
            spool_rows.text.write(self._encode.encode(row).decode() + "\n")
            self._seen("screenshots", iso(shot.captured_at) or "")
            count += 1
            progress.add()
        batches = (self._rows("screenshots", [json.loads(line)])[0] for line in spool_rows.lines())  # few
        self._write_table(archive, "screenshots", f"{description}: when, where and which file", batches)
        return count

    def _training_uses(self) -> list[LedgerUse]:
        """The snapshots that held the person (the training-set ledger), within the dates asked."""
        uses = [u for u in uses_of(self.subject.id)
                if (not self.scope.date_from or u.used_on >= self.scope.date_from)
                and (not self.scope.date_to or u.used_on <= self.scope.date_to)]
        return sorted(uses, key=lambda u: (u.used_on, u.dataset, u.snapshot))

    def _consent_history(self) -> list[ConsentEvent]:
        return list(db.session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == self.subject.id)
                                       .order_by(ConsentEvent.decided_at, ConsentEvent.id)))

    def _access_log(self) -> list[AccessRecord]:
        return list(db.session.scalars(select(AccessRecord).where(AccessRecord.subject_id == self.subject.id)
                                       .order_by(AccessRecord.accessed_at.desc(), AccessRecord.id.desc())))

    def _derived(self, generated_at: datetime) -> dict[str, list[dict[str, Any]]]:
        """The aggregates the portal keeps about the person, as rows: per day within the dates of
        this copy, the others over all time (they are kept as totals)."""
        from portal.monitoring.models import SubjectCategoryStats

        first_day = self.scope.date_from or date(1970, 1, 1)
        last_day = self.scope.date_to or generated_at.date() + timedelta(days=1)
        self._daily = sorted(aggregates.daily_counts(self.subject.id, first_day, last_day).items())
        self._hourly = aggregates.hourly_counts(self.subject.id)
        targets = aggregates.all_targets(self.subject.id, cipher=self.cipher)
        stats = list(db.session.scalars(select(SubjectCategoryStats).where(
            SubjectCategoryStats.subject_id == self.subject.id).order_by(SubjectCategoryStats.category)))
        derived: dict[str, list[dict[str, Any]]] = {
            "activity_per_day": [{"day": iso(day), "events": n} for day, n in self._daily],
            "activity_per_hour": [{"hour": hour, "events": n} for hour, n in enumerate(self._hourly)],
            "time_per_application_and_site": [{"kind": t.target_type, "name": t.target, "duration_ms": t.duration_ms,
                                               "events": t.events} for t in targets],
            "items_per_category": [{"category": s.category, "items": s.item_count, "first_at": iso(s.first_at),
                                    "last_at": iso(s.last_at)} for s in stats],
        }
        db.session.rollback()
        return derived

    def _summary(self, register: dict[str, DataCategory], generated_at: datetime, uses: list[LedgerUse],
                 consents: list[ConsentEvent], accesses: list[AccessRecord]) -> ExportSummary:
        labels = {c.consent_purpose: c.name for c in register.values() if c.consent_purpose}
        regime = regime_for(self.subject.jurisdiction)
        sections = []
        for key, category in register.items():
            last = datetime.fromisoformat(self.last_text[key]) if key in self.last_text else self.lasts.get(key)
            sections.append(CategorySection(
                key=key, name=category.name, description=category.description, purposes=list(category.purposes),
                legal_basis=regime.legal_bases.get(key, category.legal_basis), retention_days=category.retention_days,
                recipients=list(category.recipients), source_system=category.source_system,
                consent_purpose=category.consent_purpose, count=self.counts.get(key, 0),
                first_at=self.firsts.get(key), last_at=last,
                files=[f.path for f in self.files if f.path.startswith(f"data/{key}.")],
                transfers=[dict(t) for t in category.transfers or ()],
            ))
        targets = aggregates.top_targets(self.subject.id, limit=10, cipher=self.cipher)
        db.session.rollback()
        return ExportSummary(
            export_id=self.export_id, subject_name=self.subject.display_name, subject_email=self.subject.email,
            employee_number=self.subject.employee_number, jurisdiction=self.subject.jurisdiction,
            generated_at=generated_at, categories_in_scope=list(self.scope.categories),
            date_from=self.scope.date_from, date_to=self.scope.date_to, categories=sections,
            training_uses=[TrainingUse(u.dataset, u.snapshot, u.record_count, u.used_on, u.model,
                                       u.removal_required_at) for u in uses],
            consent_history=[ConsentLine(c.decided_at, c.purpose, labels.get(c.purpose, c.purpose),
                                         c.decision, c.policy_version, c.method, c.device) for c in consents],
            access_log=[AccessLine(a.accessed_at, a.action, a.accessor_role, purpose, a.case_ref)
                        for a, purpose in zip(accesses, self.purposes, strict=True)],
            daily_counts=self._daily, hourly_counts=self._hourly,
            top_targets=[(t.target_type, t.target, t.duration_ms, t.events) for t in targets.top],
            files=list(self.files), dpo_contact=self.dpo_contact, controller=self.controller or "the employer",
            unavailable=[(u["captured_at"], u["reason"]) for u in self.unavailable],
            derived_files=[f.path for f in self.files if f.path.startswith("derived/")],
            profiling=[ProfilingLine(c.name, c.profiling, c.automated_decisions, c.automated_logic or "",
                                     c.automated_significance or "", list(c.recipients))
                       for c in register.values() if c.profiling or c.automated_decisions],
            language=person_language(self.subject),
        )

