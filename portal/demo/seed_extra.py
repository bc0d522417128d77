"""Demo data for the self-service pages: two published versions of the monitoring policy, the
demo people's acknowledgements of the first (not the second, so the banner shows), and a few
records of staff having accessed alice's and bob's data. Idempotent: run it as often as you like.
Everything goes through the same service functions as the portal (and is audited)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.audit.services import Actor
from portal.db import utcnow
from portal.extensions import db
from portal.i18n.statements import statement
from portal.monitoring.access import (
    ANSWERING_ACCESS,
    PORTABILITY_EXPORT,
    REVIEWING_OBJECTION,
    SECURITY_INVESTIGATION,
    record_access,
)
from portal.monitoring.models import AccessAction, AccessRecord
from portal.policy import services as policy

ADMIN = "admin@example.com"
DPO = "dana@example.com"

POLICY_TITLE = "Workplace activity monitoring policy"

POLICY_V1 = """\
# Why this policy exists

Acme Corp runs an activity-capture program on company computers. This policy explains what it
collects about you, why, for how long, who receives it, and what you can do about it.

## What is collected

| Category | What exactly | Kept for |
|---|---|---|
| Input events | Mouse movements, clicks, scrolls and the *timing* between key presses (never which keys) | 180 days |
| Application and web-site activity | Which application or site is in focus and for how long, with the address and window title | 180 days |
| Screenshots | A picture of your screen every few minutes, **only with your consent** | 180 days |
| Use in AI training | Which training data sets included your data | 3 years |

Addresses, window titles, pointer positions and screenshots are encrypted with a key that is
yours alone. Destroying that key on erasure makes every copy unreadable, backups included.

## Why

1. Productivity and ergonomics analytics, in aggregate (legitimate interests).
2. Information security monitoring and investigations (legitimate interests).
3. Training AI models that learn how people use computers, **only with your consent**.

Nobody is evaluated on this data individually without a documented case and the DPO's review.

## AI training

Your data enters a training set only while you consent. You can withdraw at any time on the
[consent page](/me/consent); from that moment no new training set will include your data.

## Your rights

- See everything collected about you in this portal, and who accessed it.
- Download it (access and portability), have it corrected, erased or restricted.
- Object to its use, in particular for AI training.
- Complain to your data protection authority.

## Contact

Data Protection Officer: [dpo@example.com](mailto:dpo@example.com). We answer within one month
(45 days in California, 10 or 15 working days in Colombia).
"""

POLICY_V2 = POLICY_V1.replace(
    "| Screenshots | A picture of your screen every few minutes, **only with your consent** | 180 days |",
    "| Screenshots | A picture of your screen every few minutes, **only with your consent** | 90 days |",
).replace(
    """Addresses, window titles, pointer positions and screenshots are encrypted with a key that is
yours alone.""",
    """Addresses, window titles, pointer positions and screenshots are encrypted with a key that is
yours alone. Before a screenshot is stored, the agent blurs the content of chat windows, e-mail
and video calls, so that colleagues who appear in them are not identifiable.""",
).replace(
    "Nobody is evaluated on this data individually without a documented case and the DPO's review.",
    "Nobody is evaluated on this data individually without a documented case and the DPO's review.\n"
    "Monitoring is never active outside working hours or on personal devices.",
)

V2_SUMMARY = ("Screenshots are now kept for 90 days instead of 180, chat, e-mail and video-call windows are "
              "blurred before a screenshot is stored, and monitoring outside working hours is ruled out.")

# (who, action, role, purpose, case reference, days ago)
ACCESSES: tuple[tuple[str, AccessAction, str, dict[str, Any], str | None, int], ...] = (
    ("alice@example.com", AccessAction.VIEWED, "dpo", statement(ANSWERING_ACCESS), "DSAR-2026-014", 12),
    ("alice@example.com", AccessAction.EXPORTED, "system", statement(PORTABILITY_EXPORT), "DSAR-2026-014", 11),
    ("alice@example.com", AccessAction.VIEWED, "dpo", statement(SECURITY_INVESTIGATION), "SEC-2026-031", 4),
    ("bob@example.com", AccessAction.VIEWED, "dpo", statement(REVIEWING_OBJECTION), "OBJ-2026-007", 20),
)


@dataclass
class ExtraSeedReport:
    published: list[int] = field(default_factory=list)
    acknowledgements: int = 0
    access_records: int = 0


def seed_policy_and_access(issuer_people: Mapping[str, str]) -> ExtraSeedReport:
    """``issuer_people`` maps each demo person's e-mail to their employee id. The caller commits.
    Everything at once, back-dated where it says so (the demo seed runs the same steps one by one,
    each at its own moment: :func:`portal.demo.seed.seed`)."""
    report = ExtraSeedReport()
    now = utcnow()
    for number, days_ago in ((1, 60), (2, 3)):
        if publish_version(issuer_people, number, published_at=now - timedelta(days=days_ago)):
            report.published.append(number)
    report.acknowledgements = acknowledge_first(issuer_people, at=now - timedelta(days=55))
    for access in ACCESSES:
        report.access_records += record_demo_access(issuer_people, access, at=now - timedelta(days=access[5]))
    return report


def publish_version(issuer_people: Mapping[str, str], number: int, *, published_at: datetime | None = None) -> bool:
    """Publish the demo policy's version ``number`` (1 or 2) unless it is, or someone is working on
    the policy; by the admin. Whether it was published."""
    admin_id = issuer_people.get(ADMIN)
    actor = Actor("employee", admin_id) if admin_id else Actor.system()
    body, summary = {1: (POLICY_V1, "First published version."), 2: (POLICY_V2, V2_SUMMARY)}[number]
    if (policy.get_version(number) is not None or (policy.current_version_number() or 0) != number - 1
            or policy.draft()):
        return False  # published already, or someone is working on the policy: leave it alone
    draft = policy.save_draft(POLICY_TITLE, body, summary, actor)
    policy.publish(draft.id, actor, published_at=published_at or utcnow())
    return True


def acknowledge_first(issuer_people: Mapping[str, str], *, at: datetime | None = None) -> int:
    """Every demo person acknowledges version 1 (once). How many did now."""
    first = policy.get_version(1)
    done = 0
    if first is not None:
        for subject_id in issuer_people.values():
            if policy.acknowledgement(subject_id, first) is None:
                policy.acknowledge(subject_id, 1, Actor("employee", subject_id), at=at or utcnow())
                done += 1
    return done


def record_demo_access(issuer_people: Mapping[str, str], access: tuple[str, AccessAction, str, dict[str, Any], str | None, int],
                       *, at: datetime | None = None) -> int:
    """One of :data:`ACCESSES`, unless recorded already (1 if it was recorded now)."""
    email, action, role, purpose, case_ref, _days_ago = access
    subject = issuer_people.get(email)
    if subject is None:
        return 0
    exists = db.session.scalar(select(AccessRecord.id).where(
        AccessRecord.subject_id == subject, AccessRecord.case_ref == case_ref,
        AccessRecord.action == action.value).limit(1))
    if exists is not None:
        return 0
    accessor = None if role == "system" else issuer_people.get(DPO)
    if role != "system" and accessor is None:
        return 0
    record_access(subject, accessor_id=accessor, accessor_role=role, action=action, purpose=purpose,
                  case_ref=case_ref, at=at or utcnow())
    return 1
