"""Recording requests. (Filing, routing, deadlines and the DPO's transitions build on this.)"""

from __future__ import annotations

from typing import Any

from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.extensions import db
from portal.requests.models import Channel, DataRequest, RequestState, RequestType


def record_self_service_access(subject_id: str, jurisdiction: str, *, actor: Actor,
                               details: dict[str, Any]) -> DataRequest:
    """An access request the portal fulfilled itself (a completed export), in the caller's
    transaction, with its audit entry."""
    now = utcnow()
    request = DataRequest(subject_id=subject_id, type=RequestType.ACCESS, state=RequestState.COMPLETED,
                          channel=Channel.SELF_SERVICE, jurisdiction=jurisdiction, received_at=now,
                          completed_at=now, outcome="A complete copy was made available for download.")
    db.session.add(request)
    db.session.flush()
    record("requests:request:complete", actor=actor, subject_id=subject_id,
           targets={"request": request.id}, details={"type": request.type.value, "channel": request.channel.value,
                                                     **details})
    return request
