from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.crypto.keys import KeyDestroyed
from portal.crypto.sealed import NAMES, Cipher, Names, Sealed, subject_key
from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigIntId = BigInteger().with_variant(Integer, "sqlite")


class CategoryKey(enum.StrEnum):
    INPUT_EVENTS = "input_events"
    APP_ACTIVITY = "app_activity"
    SCREENSHOTS = "screenshots"
    AI_TRAINING_USE = "ai_training_use"


class EventKind(enum.StrEnum):
    MOUSE_MOVE = "mouse_move"
    CLICK = "click"
    SCROLL = "scroll"
    KEY_TIMING = "key_timing"
    APP_FOCUS = "app_focus"
    SITE_VISIT = "site_visit"

    @property
    def category(self) -> CategoryKey:
        if self in (EventKind.APP_FOCUS, EventKind.SITE_VISIT):
            return CategoryKey.APP_ACTIVITY
        return CategoryKey.INPUT_EVENTS


class DataCategory(Base):
    """One entry of the register: what is collected, why, on what basis, for how long, for whom."""

    __tablename__ = "data_categories"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(Text)
    retention_days: Mapped[int] = mapped_column(Integer)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    source_system: Mapped[str] = mapped_column(String(120))
    consent_purpose: Mapped[str | None] = mapped_column(String(40), comment="set when the category rests on consent")
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # GDPR Art. 13(2)(f), 14(2)(g), 15(1)(h): whether this data is used for profiling or for decisions
    # taken by automated means alone, and if so the logic involved, the significance and the
    # envisaged consequences for the person. The dashboard says what these say, nothing else.
    profiling: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    automated_decisions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    automated_logic: Mapped[str | None] = mapped_column(Text, comment="the logic involved")
    automated_significance: Mapped[str | None] = mapped_column(
        Text, comment="the significance and the envisaged consequences for the person")
    # GDPR Art. 15(1)(c) and (2), 30(1)(e): where the recipients receive it and under which
    # safeguard (portal.jurisdictions.transfers reads and checks it).
    transfers: Mapped[list[dict[str, str]] | None] = mapped_column(
        JSON, comment="[{recipient, destination (ISO 3166), safeguard}]")
    dpia_reference: Mapped[str | None] = mapped_column(
        Text, comment="the data protection impact assessment (GDPR Art. 35)")

    __table_args__ = (
        CheckConstraint("(profiling OR automated_decisions) = (automated_logic IS NOT NULL AND "
                        "automated_significance IS NOT NULL)", name="automated_explained"),
    )


NAME_INDEX = LargeBinary(16)  # portal.crypto.keys.NAME_INDEX_BYTES
NO_NAMES: Names = ("", None)  # what is shown once the key is gone


class SealedNames:
    """An application name and a site domain kept sealed with the subject's key (``sealed_names``,
    opened by the ``names`` attribute each class declares) and found through blind indexes under a
    key derived from it (``app_bidx``, ``site_bidx``): once the key is destroyed, no copy of the
    database says where the person worked.

    ``application`` and ``site_domain`` open them for display, once per object; a reader of many
    rows opens them all with one cipher first (:meth:`reveal_names`)."""

    if TYPE_CHECKING:
        names: Sealed[bytes | None, Names]

    def reveal_names(self, cipher: Cipher | None) -> Names:
        """Open the names with ``cipher`` (the subject's, or None once the key is gone) and keep them."""
        return type(self).names.open_with(self, cipher) or NO_NAMES

    def _names(self) -> Names:
        try:
            return self.names or NO_NAMES
        except KeyDestroyed:
            return self.reveal_names(None)

    @property
    def application(self) -> str:
        return self._names()[0]

    @property
    def site_domain(self) -> str | None:
        return self._names()[1]


class ActivityEvent(SealedNames, Base):
    """An input or activity event. Time, kind and duration are clear (ranges, retention, the heat
    map); the application and site are sealed with the subject key and found by blind indexes under
    it; URL, window title, coordinates and payload are sealed with the subject key too."""

    __tablename__ = "activity_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    source_event_id: Mapped[str] = mapped_column(String(64), comment="the collector's id; makes ingestion idempotent")
    category: Mapped[str] = mapped_column(String(40))  # the kind's (category_of_kind)
    kind: Mapped[EventKind] = mapped_column(EnumString(EventKind, 16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    app_bidx: Mapped[bytes | None] = mapped_column(NAME_INDEX, comment="the application's blind index (subject key)")
    site_bidx: Mapped[bytes | None] = mapped_column(NAME_INDEX, comment="the site's blind index (subject key)")
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="AES-GCM: url, title, x, y, payload")
    sealed_names: Mapped[bytes | None] = mapped_column(LargeBinary, comment="AES-GCM: application, site domain")
    ingested_at: Mapped[CreatedAt]

    names = Sealed(sealed_names, "event-names", NAMES, key=subject_key, record="source_event_id")

    __table_args__ = (
        UniqueConstraint("subject_id", "source_event_id", name="uq_activity_events_subject_source"),
        Index("ix_activity_events_subject_time", "subject_id", "occurred_at", "id"),
        Index("ix_activity_events_subject_site_time", "subject_id", "site_bidx", "occurred_at", "id"),
        Index("ix_activity_events_subject_kind_time", "subject_id", "kind", "occurred_at", "id"),
        enum_check("kind", EventKind),
        # Not a foreign key to data_categories: that looked up and locked the category's row for
        # every event stored. The category is the kind's, and this says so for each row.
        CheckConstraint(" OR ".join(
            f"(kind IN ({', '.join(repr(k.value) for k in EventKind if k.category == category)}) "
            f"AND category = '{category.value}')" for category in (CategoryKey.APP_ACTIVITY, CategoryKey.INPUT_EVENTS)),
            name="category_of_kind"),
    )


class Screenshot(SealedNames, Base):
    """A screenshot's facts; the image itself is sealed in the artifact directory, never here.
    Its application and site are sealed as an event's are."""

    __tablename__ = "screenshots"

    id: Mapped[SurrogateId]
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    app_bidx: Mapped[bytes | None] = mapped_column(NAME_INDEX, comment="the application's blind index (subject key)")
    site_bidx: Mapped[bytes | None] = mapped_column(NAME_INDEX, comment="the site's blind index (subject key)")
    sealed_names: Mapped[bytes | None] = mapped_column(LargeBinary, comment="AES-GCM: application, site domain")
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    ingested_at: Mapped[CreatedAt]

    names = Sealed(sealed_names, "screenshot-names", NAMES, key=subject_key)

    __table_args__ = (
        UniqueConstraint("subject_id", "source_id", name="uq_screenshots_subject_source"),
        Index("ix_screenshots_subject_time", "subject_id", "captured_at"),
    )


class SubjectCategoryStats(Base):
    """Per subject and category: how many items and when the first and last were collected.
    Kept up to date by ingestion so that pages never count millions of rows per request."""

    __tablename__ = "subject_category_stats"

    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(ForeignKey("data_categories.key"), primary_key=True)
    item_count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def as_row(self) -> dict[str, Any]:
        return {"category": self.category, "count": self.item_count, "first_at": self.first_at, "last_at": self.last_at}


class ActivityDaily(Base):
    """Events per day (in the employee's time zone): the calendar heat map, without a scan."""

    __tablename__ = "activity_daily"

    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class ActivityHourly(Base):
    """Events per hour of the day (0-23, the employee's time zone), over all time."""

    __tablename__ = "activity_hourly"

    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class ActivityTarget(Base):
    """Time in focus and events per web site or application: keyed by the name's blind index, the
    name itself sealed once per row (``label``) with the subject key."""

    __tablename__ = "activity_targets"

    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(8), primary_key=True, comment="site or app")
    bidx: Mapped[bytes] = mapped_column(NAME_INDEX, primary_key=True, comment="the name's blind index (subject key)")
    label: Mapped[bytes | None] = mapped_column(LargeBinary, comment="AES-GCM: the site or application name")
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class AccessAction(enum.StrEnum):
    VIEWED = "viewed"
    EXPORTED = "exported"


class AccessRecord(Base):
    """Staff opened or exported this employee's monitoring data. The employee sees when, why and
    for which case; who (``accessor_id``) is kept for the audit only (CJEU C-579/21)."""

    __tablename__ = "access_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    accessed_at: Mapped[CreatedAt]
    action: Mapped[AccessAction] = mapped_column(EnumString(AccessAction, 16))
    accessor_role: Mapped[str] = mapped_column(String(16), comment="dpo, admin, auditor or system")
    accessor_id: Mapped[str | None] = mapped_column(String(32), comment="never shown to the employee")
    # Why: a statement (key and parameters, worded when read: portal.i18n.statements) for the
    # portal's own purposes, else the text given (and the English of rows from before keys).
    purpose_text: Mapped[str] = mapped_column("purpose", String(200))
    purpose_statement: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the purpose as a statement key and parameters, worded in the reader's language")
    case_ref: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_access_records_subject_time", "subject_id", "accessed_at"),
        enum_check("action", AccessAction),
    )

    @property
    def purpose(self) -> str:
        """The purpose in the reader's language."""
        from portal.i18n.statements import render

        return render(self.purpose_statement, self.purpose_text) or ""
