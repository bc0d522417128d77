"""Keeping the DPO queues, their members and the routing rules (the admin's side of routing).

:func:`portal.rights.services.route` reads the rules; these functions change them. Each checks
its input, refuses with a :class:`RoutingError` before touching the session, and writes an audit
entry. They never commit: the caller does.
"""

from __future__ import annotations

from sqlalchemy import func, select

from portal.audit.services import Actor, record
from portal.db import new_id
from portal.extensions import db
from portal.people.models import Employee, Role
from portal.people.services import JURISDICTION

from .models import Queue, QueueMember, RequestType, RoutingRule
from .services import RequestError

ANY = "*"
NAME_MAX = 80
DESCRIPTION_MAX = 1000


class RoutingError(RequestError):
    """A change to the queues or the routing rules was refused; nothing changed."""


# -- reading ---------------------------------------------------------------------------------------

def queues() -> list[Queue]:
    return list(db.session.scalars(select(Queue).order_by(func.lower(Queue.name))))


def members_of(queue_id: str) -> list[Employee]:
    """The people on a queue (whatever their roles are now), in the order they were added."""
    return list(db.session.scalars(select(Employee).join(QueueMember, QueueMember.employee_id == Employee.id)
                                   .where(QueueMember.queue_id == queue_id).order_by(QueueMember.added_at,
                                                                                       Employee.id)))


def dpo_members_of(queue_id: str | None) -> list[Employee]:
    """The members of a queue who hold the DPO role: those a case of the queue can be given to."""
    if queue_id is None:
        return []
    return [e for e in members_of(queue_id) if Role.DPO in e.role_names]


def rules() -> list[RoutingRule]:
    """Every rule, the most specific first within a jurisdiction; ``*`` last."""
    return sorted(db.session.scalars(select(RoutingRule)),
                  key=lambda r: (r.jurisdiction == ANY, r.jurisdiction, r.request_type == ANY, r.request_type))


# -- checking input --------------------------------------------------------------------------------

def clean_jurisdiction(value: str | None) -> str:
    """``*`` or an ISO country code with an optional subdivision (ES, US-CA)."""
    code = (value or "").strip().upper()
    if code == ANY:
        return ANY
    if not JURISDICTION.match(code):
        raise RoutingError("The jurisdiction must be * or a country code with an optional subdivision "
                           "(for example ES or US-CA).")
    return code


def clean_request_type(value: str | None) -> str:
    kind = (value or "").strip().lower()
    if kind == ANY:
        return ANY
    try:
        return RequestType(kind).value
    except ValueError:
        raise RoutingError("The request type must be * or one of: "
                           f"{', '.join(t.value for t in RequestType)}.") from None


def _clean_name(value: str | None) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise RoutingError("A queue needs a name.")
    if len(name) > NAME_MAX:
        raise RoutingError(f"A queue's name has at most {NAME_MAX} characters.")
    return name


# -- queues and members ----------------------------------------------------------------------------

def create_queue(name: str, description: str, *, actor: Actor) -> Queue:
    name = _clean_name(name)
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise RoutingError(f"The description has at most {DESCRIPTION_MAX} characters.")
    if db.session.scalar(select(Queue.id).where(func.lower(Queue.name) == name.lower())) is not None:
        raise RoutingError("A queue with that name already exists.")
    queue = Queue(id=new_id(), name=name, description=description)
    db.session.add(queue)
    db.session.flush()
    record("requests:queue:create", actor=actor, targets={"queue": queue.id}, details={"queue_name": name})
    return queue


def add_member(queue: Queue, employee: Employee, *, actor: Actor) -> None:
    """Put a DPO on a queue; only people with the DPO role can work cases."""
    if Role.DPO not in employee.role_names:
        raise RoutingError("That person does not have the DPO role; only DPOs can be members of a queue.")
    if db.session.get(QueueMember, (queue.id, employee.id)) is not None:
        raise RoutingError("That person is already a member of this queue.")
    db.session.add(QueueMember(queue_id=queue.id, employee_id=employee.id))
    db.session.flush()
    record("requests:queue-member:add", actor=actor, targets={"queue": queue.id, "employee": employee.id})


def remove_member(queue: Queue, employee: Employee, *, actor: Actor) -> None:
    """Take someone off a queue. Cases already assigned to them stay theirs until reassigned."""
    membership = db.session.get(QueueMember, (queue.id, employee.id))
    if membership is None:
        raise RoutingError("That person is not a member of this queue.")
    db.session.delete(membership)
    db.session.flush()
    record("requests:queue-member:remove", actor=actor, targets={"queue": queue.id, "employee": employee.id})


# -- routing rules ---------------------------------------------------------------------------------

def set_rule(jurisdiction: str, request_type: str, queue: Queue, *, actor: Actor) -> RoutingRule:
    """Send (jurisdiction, type) to ``queue``, replacing the rule for that key if there is one.
    Requests already filed stay in their queue."""
    code = clean_jurisdiction(jurisdiction)
    kind = clean_request_type(request_type)
    rule = db.session.scalar(select(RoutingRule).where(RoutingRule.jurisdiction == code,
                                                       RoutingRule.request_type == kind))
    previous = rule.queue_id if rule is not None else None
    if rule is not None and previous == queue.id:
        raise RoutingError("That rule already sends these requests to this queue.")
    if rule is None:
        rule = RoutingRule(jurisdiction=code, request_type=kind, queue_id=queue.id)
        db.session.add(rule)
    else:
        rule.queue_id = queue.id
    db.session.flush()
    record("requests:routing-rule:set", actor=actor, targets={"routing_rule": rule.id, "queue": queue.id},
           details={"jurisdiction": code, "request_type": kind, "previous_queue": previous})
    return rule


def delete_rule(rule: RoutingRule, *, actor: Actor) -> None:
    details = {"jurisdiction": rule.jurisdiction, "request_type": rule.request_type}
    targets = {"routing_rule": rule.id, "queue": rule.queue_id}
    db.session.delete(rule)
    db.session.flush()
    record("requests:routing-rule:delete", actor=actor, targets=targets, details=details)
