"""Forms shared across blueprints."""

from flask_wtf import FlaskForm


class ButtonForm(FlaskForm):
    """An empty form: a button that POSTs with a CSRF token and nothing else."""
