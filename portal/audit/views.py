"""The audit log's public key, for anyone who checks signed tree heads and evidence packs."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from portal.audit.heads import public_key_document
from portal.security import public

bp = Blueprint("audit", __name__)


@bp.get("/.well-known/audit-log-key")
@public
def audit_log_key() -> Response:
    response = jsonify(public_key_document())
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
