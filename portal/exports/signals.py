"""What happens to an export, for the domains above that act on it (docs/architecture.md,
"Layout": signals point up, imports point down). Receivers run in the sender's transaction, in
the order they connected; what they raise goes through to the sender.

The rights domain subscribes (``portal.rights.on_exports``): a finished export completes the
access request it fulfils or is recorded as one; a failed one fails the request it was making.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

export_finished = signals.signal("export-finished")
"""Sent with the :class:`~portal.exports.models.Export` whose job has just written it (now READY),
``subject`` (the employee), ``counts`` (items per category) and ``days`` (how long it is kept).
A receiver that records the export as an access request sets ``export.request_id``."""

export_delivered = signals.signal("export-delivered")
"""Sent with an operator's copy (``export run``) once its file is written, and ``subject``; a
receiver records it as an access request and sets ``export.request_id``."""

export_failed = signals.signal("export-failed")
"""Sent with the export its job gave up on (now FAILED) and ``reason``."""
