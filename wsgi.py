"""WSGI entry point: ``gunicorn wsgi:app``, ``flask --app wsgi ...``."""

import click

from portal import create_app
from portal.jobs.runners import start_background

app = create_app()

if click.get_current_context(silent=True) is None:  # served (gunicorn, in each worker), not a command
    start_background(app)
