"""An independent SCIM 2.0 compliance checker (scim2-tester) against the live endpoint.

Its discovery and protocol checks must all pass. Its create, read, update and patch checks fill
every attribute with random strings (a UUID as userName and as timezone), which the portal refuses
by design (userName is the work e-mail; timezone an IANA name), so they do not apply here; the
portal's own tests in this folder drive those operations with real values."""

from __future__ import annotations

from pathlib import Path

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.conftest import LiveServer, live_portal
from tests.scim.conftest import token_for

APPLICABLE = {"discovery", "misc"}


def test_scim2_tester_finds_no_failure(tmp_path: Path, idp_url: str, sqlite_template: Path) -> None:
    app, port = live_portal(tmp_path, idp_url, sqlite_template)
    token = token_for(app, "scim")
    with LiveServer(app, port) as live, httpx2.Client(
            base_url=f"{live.url}/scim/v2", headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        client = SyncSCIMClient(http)
        client.discover()
        results = check_server(client, include_tags=APPLICABLE)
    ran = [r for r in results if r.status != Status.SKIPPED]
    failures = [(r.title, r.status.name, r.reason) for r in ran if r.status in {Status.ERROR, Status.CRITICAL}]
    assert failures == []
    assert {tag for r in ran for tag in r.tags} >= {"service-provider-config", "resource-types", "schemas", "misc"}
    assert len(ran) >= 20, "the checks ran"
