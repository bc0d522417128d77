"""The demo's policy versions, acknowledgements and access records: realistic and idempotent."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from portal.demo.seed_extra import seed_policy_and_access
from portal.extensions import db
from portal.monitoring.models import AccessRecord
from portal.policy import services as policy
from portal.policy.models import PolicyAcknowledgement
from tests.helpers import make_employee

PEOPLE = ("alice@example.com", "bob@example.com", "dana@example.com", "admin@example.com")


def test_seed_publishes_two_versions_and_is_idempotent(app: Flask) -> None:
    ids = {email: make_employee(app, email, name=email.split("@")[0].title()) for email in PEOPLE}
    with app.app_context():
        first = seed_policy_and_access(ids)
        db.session.commit()
        assert (first.published, first.acknowledgements, first.access_records) == ([1, 2], 4, 4)
        again = seed_policy_and_access(ids)
        db.session.commit()
        assert (again.published, again.acknowledgements, again.access_records) == ([], 0, 0)

        v1, v2 = policy.get_version(1), policy.get_version(2)
        assert v1 is not None and v2 is not None and v1.published_at is not None and v2.published_at is not None
        assert v1.published_at < v2.published_at and v2.published_by_id == ids["admin@example.com"]
        rendered = str(policy.render(v1.body_markdown))
        assert "<table>" in rendered and '<a href="/me/consent"' in rendered
        diff = policy.diff(v1, v2)
        assert diff.added >= 2 and "<del>180</del>" in str([r.old for r in diff.rows])
        for subject in ids.values():
            assert policy.needs_acknowledgement(subject) == v2, "v1 acknowledged, v2 not: the banner shows"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyAcknowledgement)) == 4
        per_subject = dict(db.session.execute(sa.select(AccessRecord.subject_id, sa.func.count())
                                              .group_by(AccessRecord.subject_id)).tuples().all())
        assert per_subject == {ids["alice@example.com"]: 3, ids["bob@example.com"]: 1}
