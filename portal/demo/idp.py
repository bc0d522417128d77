"""A real OpenID Connect provider on loopback for the demo and the tests.

It is ``oidc-provider-mock`` (an Authlib-based provider) with the demo identities, nonces
required, its debugger removed, and ``auth_time`` in ID tokens (the time the person clicked
"authorize"), which the portal needs to judge a fresh sign-in."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import werkzeug.serving
from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader
from oidc_provider_mock import User
from oidc_provider_mock import app as provider_app
from oidc_provider_mock._storage import AuthorizationCode, Storage

from portal.demo.identities import PEOPLE, DemoPerson

_auth_times: dict[str, int] = {}
_original_store = Storage.store_authorization_code


def _store_with_time(self: Storage, code: AuthorizationCode) -> None:
    _auth_times[code.code] = int(time.time())
    _original_store(self, code)


def _auth_time(self: AuthorizationCode) -> int | None:
    return _auth_times.get(self.code)


Storage.store_authorization_code = _store_with_time  # type: ignore[method-assign]
AuthorizationCode.get_auth_time = _auth_time  # type: ignore[method-assign]


def make_app(people: Iterable[DemoPerson] = PEOPLE) -> Flask:
    users = [User(sub=person.email, claims=person.claims()) for person in people]
    app = provider_app(require_nonce=True, user_claims=users)
    app.debug = False
    app.wsgi_app = app.wsgi_app.app  # type: ignore[attr-defined]  # drop the interactive debugger
    # Our own base template: the packaged one loads a stylesheet from a CDN, and nothing here
    # may fetch from outside this machine.
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(Path(__file__).with_name("idp_templates"))),
                                     app.jinja_loader])  # type: ignore[list-item]
    return app


def serve(host: str = "127.0.0.1", port: int = 9400) -> werkzeug.serving.BaseWSGIServer:
    """Start the provider on a background thread; returns the server (``.shutdown()`` stops it)."""
    server = werkzeug.serving.make_server(host, port, make_app(), threaded=True)
    threading.Thread(target=server.serve_forever, name="demo-idp", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the demo OpenID Connect provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    args = parser.parse_args()
    werkzeug.serving.run_simple(args.host, args.port, make_app(), threaded=True)


if __name__ == "__main__":
    main()
