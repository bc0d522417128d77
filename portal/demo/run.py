"""``make run``: migrate, seed, start the demo IdP on 127.0.0.1:9400 and the portal on :5000."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from urllib.parse import urlsplit

import click


def main() -> None:
    os.environ.setdefault("PORTAL_DEMO", "1")
    # Third-party deprecation notices are for developers, not for someone trying the demo.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from flask_migrate import upgrade

    from portal import create_app
    from portal.config import PROJECT_ROOT, current_settings
    from portal.demo import idp
    from portal.demo.seed import seed
    from portal.demo.seed_recipients import webhook_credentials
    from portal.extensions import db

    app = create_app()
    settings = current_settings(app)
    with app.app_context():
        upgrade()
        report = seed(settings.oidc_issuer, progress=lambda line: click.echo(f"  seeded {line}"))
        db.session.commit()
        hook = webhook_credentials()
        db.session.commit()
    receiver = None
    if hook is not None:  # People Analytics' endpoint: examples/webhook_receiver.py on 127.0.0.1:5001
        url, secret, token = hook
        receiver = subprocess.Popen(  # noqa: S603 - the project's own example, its own arguments
            [sys.executable, str(PROJECT_ROOT / "examples" / "webhook_receiver.py"), "--port",
             str(urlsplit(url).port or 5001), "--url", settings.base_url],
            env={**os.environ, "WEBHOOK_SECRET": secret, "PORTAL_API_TOKEN": token})
    try:
        server = idp.serve("127.0.0.1", 9400, client_id=settings.oidc_client_id,
                           backchannel_logout_uri=f"{settings.base_url}/auth/backchannel-logout")
    except OSError as exc:
        sys.exit(f"Cannot start the demo identity provider on 127.0.0.1:9400: {exc}")
    people = "\n".join([
        "    alice@example.com   employee, Spain (ES)",
        "    bob@example.com     employee, California (US-CA)",
        "    carla@example.com   employee, Colombia (CO)",
        "    bruno@example.com   employee, Brazil (BR)",
        "    dana@example.com    Data Protection Officer",
        "    admin@example.com   privacy admin",
        "    frank@example.com   former employee: SSO refused; he signs in at /former with",
        "                        frank.home@example.net (the code's e-mail lands in",
        f"                        {settings.outbox_dir}/)",
    ])
    click.echo(
        f"\n  Demo ready ({len(report.created)} people created, {len(report.existing)} already there).\n"
        f"  Open {settings.base_url} and click 'Sign in'. At the demo identity provider\n"
        f"  (http://127.0.0.1:9400) choose one of:\n{people}\n\n"
        f"  Integrations API (reference: {settings.base_url}/api/docs). In another shell, make a token\n"
        f"  and post the documented example batch (for alice, E1001):\n"
        f"    TOKEN=$(PORTAL_DEMO=1 .venv/bin/flask --app wsgi api token create --name demo --scope ingest | tail -1)\n"
        f"    curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n"
        f"         --data @examples/ingest-batch.json {settings.base_url}/api/v1/ingest\n\n"
        f"  Recipient systems (/admin/recipients): People Analytics' webhooks go to examples/webhook_receiver.py,\n"
        f"  started here on 127.0.0.1:5001; it checks each signature and confirms the task through the API.\n\n"
        f"  Stop with Ctrl-C.\n"
    )
    from portal.jobs.runners import start_background

    start_background(app)
    try:
        app.run(host="127.0.0.1", port=5000, threaded=True, use_reloader=False, debug=False)
    finally:
        server.shutdown()
        if receiver is not None:
            receiver.terminate()


if __name__ == "__main__":
    main()
