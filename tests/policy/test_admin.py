"""The admin's policy pages: draft, preview, publish with confirmation; and nobody else gets in."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.services import Actor
from portal.extensions import db
from portal.policy import services as policy
from portal.policy.models import PolicyVersion
from tests.conftest import both_databases
from tests.helpers import csrf_token
from tests.policy.support import REFUSED, audit, publish, signed_in, snapshot

ADMIN = "admin@example.com"
BODY = ("# What we collect\n\nInput events and **screenshots**.\n\n<script>alert(1)</script>\n\n"
        "<p onclick=\"x()\">Raw HTML</p>\n\nContact the [DPO](mailto:dpo@example.com) or [see](javascript:alert(1)).")
ADMIN_GETS = ["/admin/policy", "/admin/policy/draft", "/admin/policy/draft/preview"]
ADMIN_POSTS = ["/admin/policy/draft", "/admin/policy/draft/publish"]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(rf'value="([^"]*)"[^>]*name="{name}"', html)
    assert match, name
    return match.group(1)


def save(client: FlaskClient, **fields: str) -> tuple[int, str]:
    csrf = csrf_token(client.get("/admin/policy/draft").get_data(as_text=True))
    data = {"title": "Monitoring policy", "change_summary": "First version.", "body": BODY} | fields
    response = client.post("/admin/policy/draft", data={"csrf_token": csrf, **data})
    return response.status_code, response.get_data(as_text=True)


def publish_form(client: FlaskClient) -> dict[str, str]:
    html = client.get("/admin/policy/draft/preview").get_data(as_text=True)
    return {"csrf_token": csrf_token(html), "draft_id": hidden(html, "draft_id"), "digest": hidden(html, "digest")}


def versions(app: Flask) -> list[tuple[int | None, str, str]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(sa.select(
            PolicyVersion.version, PolicyVersion.status, PolicyVersion.title).order_by(PolicyVersion.id))]


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> str:
    return signed_in(app, client, ADMIN)


@both_databases
def test_draft_preview_publish(app: Flask, client: FlaskClient, admin: str) -> None:
    index = client.get("/admin/policy").get_data(as_text=True)
    assert "There is no draft." in index and "No version has been published yet." in index
    form = client.get("/admin/policy/draft").get_data(as_text=True)
    for field in ("title", "change_summary", "body"):
        assert f'<label for="{field}">' in form and f'id="{field}"' in form

    status, _html = save(client)
    assert status == 302
    assert versions(app) == [(None, "draft", "Monitoring policy")]
    preview = client.get("/admin/policy/draft/preview").get_data(as_text=True)
    body = preview.split('class="policy-body"')[1].split("</article>")[0]
    assert "<h2>What we collect</h2>" in body and "<strong>screenshots</strong>" in body
    assert '<a href="mailto:dpo@example.com" rel="noopener noreferrer">DPO</a>' in body
    assert "<script" not in body and "onclick" not in body and "javascript:" not in body
    assert "Draft: not published" in preview and "Publish as version 1" in preview

    status, _html = save(client, body=BODY + "\n\nOne more line.", change_summary="First version, edited.")
    assert status == 302
    assert versions(app) == [(None, "draft", "Monitoring policy")], "one draft at a time: saving updates it"

    response = client.post("/admin/policy/draft/publish", data=publish_form(client) | {"confirm": "y"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/policy"
    assert versions(app) == [(1, "published", "Monitoring policy")]
    (entry,) = audit(app, "policy:version:publish")
    assert (entry.actor_id, entry.details) == (admin, {"version": 1})
    assert [e.tag for e in audit(app, "policy:draft:create") + audit(app, "policy:draft:update")] == [
        "policy:draft:create", "policy:draft:update"]
    with app.app_context():
        published = policy.get_version(1)
        assert published is not None
        assert published.published_by_id == admin and published.change_summary == "First version, edited."
    assert "Version 1" in client.get("/admin/policy").get_data(as_text=True)

    # The next draft starts from the current text; publishing it makes version 2 and leaves 1 alone.
    assert "One more line." in client.get("/admin/policy/draft").get_data(as_text=True)
    assert save(client, body="Shorter.", change_summary="Shorter.")[0] == 302
    assert client.post("/admin/policy/draft/publish",
                       data=publish_form(client) | {"confirm": "y"}).status_code == 302
    assert versions(app) == [(1, "published", "Monitoring policy"), (2, "published", "Monitoring policy")]


def test_publishing_needs_the_confirmation(app: Flask, client: FlaskClient, admin: str) -> None:
    assert save(client)[0] == 302
    data = publish_form(client)
    before = snapshot(app, skip=frozenset())
    response = client.post("/admin/policy/draft/publish", data=data)
    assert response.status_code == 400
    assert "Tick the box to confirm that you want to publish." in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_publishing_a_draft_that_changed_since_the_preview_is_refused(app: Flask, client: FlaskClient,
                                                                       admin: str) -> None:
    assert save(client)[0] == 302
    stale = publish_form(client)
    assert save(client, body="Changed in another tab.")[0] == 302
    before = snapshot(app, skip=frozenset())
    response = client.post("/admin/policy/draft/publish", data=stale | {"confirm": "y"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The draft changed after this preview was shown." in html and "Changed in another tab." in html
    assert snapshot(app, skip=frozenset()) == before


@pytest.mark.parametrize("case", ["no draft", "empty body", "already published"])
def test_publishing_refusals_change_nothing(app: Flask, client: FlaskClient, admin: str, case: str) -> None:
    if case == "empty body":
        assert save(client, body="   \n")[0] == 302
    elif case == "already published":
        assert save(client)[0] == 302
    data = publish_form(client) if case != "no draft" else {
        "csrf_token": csrf_token(client.get("/admin/policy").get_data(as_text=True)), "draft_id": "1",
        "digest": "0" * 64}
    if case == "already published":
        assert client.post("/admin/policy/draft/publish", data=data | {"confirm": "y"}).status_code == 302
    before = snapshot(app, skip=frozenset())
    response = client.post("/admin/policy/draft/publish", data=data | {"confirm": "y"})
    assert response.status_code == 400
    message = {"no draft": "There is no draft to publish", "empty body": "The draft has no text.",
               "already published": "There is no draft to publish"}[case]
    assert message in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_the_service_refuses_the_same(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(policy.PolicyError, match="no such draft"):
            policy.publish(12345, Actor.system())
        with pytest.raises(policy.PolicyError, match="title is required"):
            policy.save_draft("  ", "body", "", Actor.system())
        draft = policy.save_draft("Title", "", "", Actor.system())
        with pytest.raises(policy.PolicyError, match="empty policy"):
            policy.publish(draft.id, Actor.system())


@pytest.mark.parametrize(("fields", "message"), [
    ({"title": ""}, "Give the policy a title."),
    ({"title": "x" * 201}, "Field cannot be longer than 200 characters."),
    ({"change_summary": "x" * 2001}, "Field cannot be longer than 2000 characters."),
])
def test_draft_validation_errors_rerender_with_400(app: Flask, client: FlaskClient, admin: str,
                                                   fields: dict[str, str], message: str) -> None:
    before = snapshot(app, skip=frozenset())
    status, html = save(client, **fields)
    assert status == 400 and message in html and 'aria-invalid="true"' in html
    assert "The draft was not saved." in html and "What we collect" in html, "what was typed is kept"
    assert snapshot(app, skip=frozenset()) == before


def test_employees_get_404_on_every_admin_route_and_are_audited(app: Flask, client: FlaskClient) -> None:
    alice = signed_in(app, client)
    publish(app, "# Policy")
    csrf = csrf_token(client.get("/policy").get_data(as_text=True))
    refused_before = len(audit(app, REFUSED))
    before = snapshot(app)
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 404, path
    for path in ADMIN_POSTS:
        data = {"csrf_token": csrf, "title": "Hijack", "body": "x", "confirm": "y", "draft_id": "1"}
        assert client.post(path, data=data).status_code == 404, path
    assert snapshot(app) == before
    refused = audit(app, REFUSED)[refused_before:]
    assert [(e.actor_id, e.targets["type"], e.details["endpoint"]) for e in refused] == [
        (alice, "route", endpoint) for endpoint in
        ("admin.policy_index", "admin.draft_form", "admin.preview", "admin.save_draft", "admin.publish")]


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask) -> None:
    anonymous = app.test_client()
    before = snapshot(app, skip=frozenset())
    for path in ADMIN_GETS:
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login?next="), path
    for path in ADMIN_POSTS:
        assert anonymous.post(path, data={"title": "x", "body": "y", "confirm": "y"}).status_code == 400, path
    assert snapshot(app, skip=frozenset()) == before


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_admin_posts_need_a_csrf_token(app: Flask, client: FlaskClient, admin: str, path: str) -> None:
    assert save(client)[0] == 302
    before = snapshot(app, skip=frozenset())
    response = client.post(path, data={"title": "x", "body": "y", "confirm": "y"})
    assert response.status_code == 400 and "Your form expired" in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_admin_pages_carry_no_inline_script_style_or_handlers(app: Flask, client: FlaskClient, admin: str) -> None:
    assert save(client, body=BODY + '\n\n<p style="color:red">x</p>')[0] == 302
    pages = {path: client.get(path) for path in ADMIN_GETS}
    pages["publish-refused"] = client.post("/admin/policy/draft/publish", data=publish_form(client))
    pages["draft-refused"] = client.post("/admin/policy/draft", data={
        "csrf_token": csrf_token(pages["/admin/policy"].get_data(as_text=True)), "title": ""})
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, name
        assert "<style" not in html and re.search(r"<[a-zA-Z][^>]*\s(style|on[a-z]+)=", html) is None, name
