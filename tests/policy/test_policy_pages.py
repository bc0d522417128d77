"""The policy for employees: current and earlier versions, acknowledgements, the banner on every
page, and the diff between any two versions."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.services import Actor
from portal.extensions import db
from portal.policy import services as policy
from portal.policy.models import PolicyAcknowledgement, PolicyVersion
from tests.conftest import both_databases
from tests.helpers import make_employee
from tests.policy.support import REFUSED, audit, publish, signed_in, snapshot, token, without_csrf

V1 = "# Monitoring\n\nScreenshots are kept for 180 days.\n\n<script>alert('x')</script>\n\nContact the DPO."
V2 = "# Monitoring\n\nScreenshots are kept for 90 days.\n\nChat windows are blurred.\n\nContact the DPO."
BANNER = 'class="policy-banner"'


def acknowledge(client: FlaskClient, number: int, csrf: str | None = None) -> int:
    return client.post(f"/policy/{number}/acknowledge",
                       data={"csrf_token": csrf or token(client, "/policy")}).status_code


def ack_ids(app: Flask, subject_id: str) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(PolicyAcknowledgement.id)
                                       .where(PolicyAcknowledgement.subject_id == subject_id)
                                       .order_by(PolicyAcknowledgement.id)))


def test_before_any_publication_the_pages_say_so(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    for path, text in (("/policy", "No monitoring policy has been published yet. When one is"),
                       ("/policy/versions", "No monitoring policy has been published yet."),
                       ("/policy/diff", "No monitoring policy has been published yet.")):
        response = client.get(path)
        assert response.status_code == 200 and text in response.get_data(as_text=True), path
    assert BANNER not in client.get("/").get_data(as_text=True)
    assert client.get("/policy/1").status_code == 404


@both_databases
def test_acknowledging_the_current_version_clears_the_banner_until_the_next(app: Flask, client: FlaskClient) -> None:
    alice = signed_in(app, client)
    publish(app, V1, summary="First version.")

    for path in ("/", "/policy", "/policy/versions", "/me/consent", "/me/access-log", "/account/sessions"):
        html = client.get(path).get_data(as_text=True)
        assert BANNER in html and 'href="/policy"' in html, path
    page = client.get("/policy").get_data(as_text=True)
    assert "Version 1, published" in page and "I have read version 1" in page
    assert "<script" not in page.split('class="policy-body"')[1] and "<h2>Monitoring</h2>" in page

    assert acknowledge(client, 1) == 302
    page = client.get("/policy").get_data(as_text=True)
    assert BANNER not in page and "Acknowledged" in page and "I have read version 1" not in page
    assert BANNER not in client.get("/").get_data(as_text=True)
    (ack,) = audit(app, "policy:version:acknowledge")
    assert (ack.actor_id, ack.subject_id, ack.details) == (alice, alice, {"version": 1})

    publish(app, V2, summary="Shorter retention.")
    assert BANNER in client.get("/").get_data(as_text=True), "a new version needs a new acknowledgement"
    assert acknowledge(client, 2) == 302
    assert BANNER not in client.get("/").get_data(as_text=True)
    assert len(ack_ids(app, alice)) == 2


def test_acknowledging_twice_is_refused_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    publish(app, V1)
    csrf = token(client, "/policy")
    assert acknowledge(client, 1, csrf) == 302
    before = snapshot(app, skip=frozenset())
    assert acknowledge(client, 1, csrf) == 302
    assert snapshot(app, skip=frozenset()) == before
    assert "You had already acknowledged version 1; nothing changed." in client.get("/policy").get_data(as_text=True)
    with app.app_context(), pytest.raises(policy.PolicyError, match="already acknowledged"):
        policy.acknowledge(ack_subject(app), 1, Actor.system())


def ack_subject(app: Flask) -> str:
    with app.app_context():
        subject = db.session.scalar(sa.select(PolicyAcknowledgement.subject_id))
        assert subject is not None
        return subject


@pytest.mark.parametrize("data", [{}, {"csrf_token": "forged"}])
def test_acknowledging_needs_a_csrf_token(app: Flask, client: FlaskClient, data: dict[str, str]) -> None:
    signed_in(app, client)
    publish(app, V1)
    before = snapshot(app, skip=frozenset())
    assert client.post("/policy/1/acknowledge", data=data).status_code == 400
    assert snapshot(app, skip=frozenset()) == before


def test_acknowledging_an_unpublished_version_is_not_found(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    publish(app, V1)
    with app.app_context():
        policy.save_draft("Next", "draft text", "", Actor.system())
        db.session.commit()
    csrf = token(client, "/policy")
    before = snapshot(app, skip=frozenset())
    assert acknowledge(client, 2, csrf) == 404
    assert snapshot(app, skip=frozenset()) == before


def test_earlier_versions_stay_readable_and_listed(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    publish(app, V1, summary="First version.")
    publish(app, V2, summary="Shorter retention.")
    listing = client.get("/policy/versions").get_data(as_text=True)
    assert listing.index("Version 2") < listing.index("Version 1")
    assert "Shorter retention." in listing and "First version." in listing
    assert 'href="/policy/diff?from=1&amp;to=2"' in listing
    old = client.get("/policy/1").get_data(as_text=True)
    assert "This is an earlier version. The policy in force is version 2." in old and "180 days" in old
    assert "90 days" in client.get("/policy").get_data(as_text=True)


def test_the_diff_compares_any_two_versions(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    publish(app, V1)
    publish(app, V2)
    default = client.get("/policy/diff").get_data(as_text=True)
    assert "From version 1 to version 2" in default
    assert '<label for="diff-from">' in default and '<select id="diff-from" name="from"' in default
    assert '<label for="diff-to">' in default
    response = client.get("/policy/diff?from=2&to=1")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "From version 2 to version 1" in html
    assert "<del>90</del>" in html and "<ins>180</ins>" in html
    assert "&lt;script&gt;alert" in html and "<script>" not in html, "source lines are escaped"
    assert re.search(r'<option value="2" selected>', html) and re.search(r'<option value="1" selected>', html)
    same = client.get("/policy/diff?from=1&to=1").get_data(as_text=True)
    assert "The text of these two versions is the same." in same


@pytest.mark.parametrize(("query", "message"), [
    ("from=1", "Choose the newer version from the list."),
    ("to=2", "Choose the older version from the list."),
    ("from=abc&to=2", "Choose the older version from the list."),
    ("from=-1&to=2", "Choose the older version from the list."),
    ("from=1&to=99", "There is no published version 99."),
    ("from=3&to=1", "There is no published version 3."),
    ("from=1&to=99999999999999999999", "Choose the newer version from the list."),
])
def test_the_diff_refuses_bad_choices_with_a_message(app: Flask, client: FlaskClient, query: str,
                                                     message: str) -> None:
    signed_in(app, client)
    publish(app, V1)
    publish(app, V2)
    with app.app_context():
        policy.save_draft("Draft 3", "not published", "", Actor.system())  # a draft is never compared
        db.session.commit()
    before = snapshot(app)
    response = client.get(f"/policy/diff?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and 'role="alert"' in html and "From version" not in html
    assert snapshot(app) == before


@both_databases
def test_an_acknowledgement_is_shown_to_its_owner_and_to_nobody_else(app: Flask, client: FlaskClient) -> None:
    alice = signed_in(app, client)
    other = make_employee(app, "erin@example.com", name="Erin Other")
    publish(app, V1)
    assert acknowledge(client, 1) == 302
    with app.app_context():
        theirs = policy.acknowledge(other, 1, Actor("employee", other)).id
        db.session.commit()
    (own,) = ack_ids(app, alice)
    page = client.get(f"/policy/acknowledgements/{own}")
    assert page.status_code == 200 and "Version 1: Monitoring policy" in page.get_data(as_text=True)

    refused_before = len(audit(app, REFUSED))
    before = snapshot(app)
    their_page = client.get(f"/policy/acknowledgements/{theirs}")
    missing = client.get("/policy/acknowledgements/999999")
    assert their_page.status_code == missing.status_code == 404
    assert without_csrf(their_page.get_data(as_text=True)) == without_csrf(missing.get_data(as_text=True))
    assert [(e.actor_id, e.subject_id, e.targets) for e in audit(app, REFUSED)[refused_before:]] == [
        (alice, other, {"type": "policy_acknowledgements", "id": str(theirs)}),
        (alice, None, {"type": "policy_acknowledgements", "id": "999999"})]
    assert snapshot(app) == before


@both_databases
def test_published_versions_never_change(app: Flask) -> None:
    publish(app, V1)
    with app.app_context():
        version = policy.get_version(1)
        assert version is not None
        version.body_markdown = "rewritten history"
        with pytest.raises(policy.PublishedVersionChanged):
            db.session.flush()
        db.session.rollback()
        version = policy.get_version(1)
        assert version is not None
        db.session.delete(version)
        with pytest.raises(policy.PublishedVersionChanged):
            db.session.flush()
        db.session.rollback()
        # Editing goes to a new draft; version 1 is untouched.
        draft = policy.save_draft("Monitoring policy", "new text", "", Actor.system())
        db.session.commit()
        assert draft.status == "draft" and draft.version is None
        assert db.session.scalar(sa.select(PolicyVersion.body_markdown).where(PolicyVersion.version == 1)) == V1


def test_reading_the_policy_pages_changes_nothing(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    publish(app, V1)
    publish(app, V2)
    before = snapshot(app)
    for path in ("/policy", "/policy/versions", "/policy/1", "/policy/diff", "/policy/diff?from=1&to=2",
                 "/policy/2/acknowledge"):
        assert client.get(path).status_code in (200, 405), path
    assert snapshot(app) == before


HOSTILE = V1 + '\n\n<p style="color:red" onclick="x()">styled</p>\n\n<iframe src="https://evil.example"></iframe>'


def test_the_pages_carry_no_inline_script_style_or_handlers(app: Flask, client: FlaskClient) -> None:
    """The CSP forbids inline code; not even a hostile policy text brings any in."""
    alice = signed_in(app, client)
    publish(app, HOSTILE)
    publish(app, V2)
    assert acknowledge(client, 1) == 302
    with app.app_context():
        first = policy.get_version(1)
        assert first is not None
        ack = policy.acknowledgement(alice, first)
        assert ack is not None
        ack_id = ack.id
    for path in ("/policy", "/policy/1", "/policy/versions", "/policy/diff", "/policy/diff?from=1&to=2",
                 "/policy/diff?from=x", f"/policy/acknowledgements/{ack_id}", "/me/consent", "/me/access-log"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert "<style" not in html and "<iframe" not in html, path
        assert re.search(r"<[a-zA-Z][^>]*\s(style|on[a-z]+)=", html) is None, path  # within tags, not escaped text
