"""The requests domain's part in what happens to exports (``portal.exports.signals``): the
exports domain sends, this module answers, so exports never imports requests."""

from __future__ import annotations

from typing import Any

from portal.audit.services import Actor
from portal.exports.models import Export
from portal.exports.signals import export_delivered, export_failed, export_finished
from portal.extensions import db
from portal.i18n.statements import statement
from portal.people.models import Employee

from . import services as requests
from .models import DataRequest, RequestState
from .statements import COPY_READY


@export_finished.connect
def complete_access(export: Export, *, subject: Employee, counts: dict[str, int], days: int, **_: Any) -> None:
    """The access request the export fulfils is completed; an employee's own export is recorded as
    an access request the portal fulfilled itself (a shell copy once it is delivered)."""
    linked = db.session.get(DataRequest, export.request_id) if export.request_id else None
    if linked is not None:
        if linked.state == RequestState.FULFILLING:
            requests.complete(linked, result={"export": export.id, **counts}, outcome=statement(COPY_READY, days=days))
    elif export.origin != "shell":  # a shell copy is recorded once it is delivered (record_shell_copy)
        request = requests.record_self_service_access(subject.id, subject.jurisdiction,
                                                      actor=Actor("employee", subject.id),
                                                      details={"export": export.id})
        export.request_id = request.id


@export_delivered.connect
def record_shell_copy(export: Export, *, subject: Employee, **_: Any) -> None:
    request = requests.record_self_service_access(subject.id, subject.jurisdiction, actor=Actor.system(),
                                                  details={"export": export.id})
    export.request_id = request.id


@export_failed.connect
def fail_access(export: Export, *, reason: str, **_: Any) -> None:
    """The access request the export was making fails, for its DPO to make again or to close."""
    linked = db.session.get(DataRequest, export.request_id) if export.request_id else None
    if linked is not None and linked.state == RequestState.FULFILLING:
        requests.fail(linked, reason)
