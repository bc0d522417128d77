"""The SCIM User as this portal keeps it: rendering an employee, reading a User sent by a
provisioning system, PATCH operations and the one filter form supported. No HTTP here.

Attribute mapping (see docs/architecture.md, "Provisioning with SCIM"):

- ``userName`` and ``emails[type eq "work"]``: the work e-mail (the same value; ``userName`` wins)
- ``emails[type eq "home"]`` (or ``"other"``): the personal e-mail a former employee verifies with
- ``displayName`` (else ``name.formatted``, else ``name.givenName`` + ``name.familyName``)
- ``externalId``; the enterprise extension's ``employeeNumber``; ``timezone`` (IANA)
- the portal extension's ``jurisdiction`` (ISO 3166 country with optional subdivision: ES, US-CA)
- ``active``: false makes the employee a leaver (docs/architecture.md, "Leavers and former employees")
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from portal.people.models import Employee

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PORTAL = "urn:ietf:params:scim:schemas:extension:portal:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PERSONAL_TYPES = ("home", "other")
# The core attributes published in /Schemas (and those every resource has); others sent are not kept.
PUBLISHED = frozenset({"schemas", "id", "meta", "username", "name", "displayname", "emails", "timezone", "active",
                       "externalid"})
TEXT_MAX = 200


class ScimError(ValueError):
    """A SCIM error (RFC 7644 section 3.12): HTTP status, ``scimType`` and a detail that names the
    attribute at fault (never another person's value)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


@dataclass(frozen=True)
class UserFields:
    """Everything a User gives this portal, read and checked for shape (the people services check
    the values themselves)."""

    user_name: str
    display_name: str
    jurisdiction: str
    timezone: str
    active: bool | None  # None: not sent, the employment status stays as it is
    external_id: str | None
    employee_number: str | None
    personal_email: str | None


def render(employee: Employee, base_url: str) -> dict[str, Any]:
    emails: list[dict[str, Any]] = [{"value": employee.email, "type": "work", "primary": True}]
    if employee.personal_email:
        emails.append({"value": employee.personal_email, "type": "home"})
    user: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE, PORTAL],
        "id": employee.id,
        "userName": employee.email,
        "name": {"formatted": employee.display_name},
        "displayName": employee.display_name,
        "emails": emails,
        "timezone": employee.timezone,
        "active": not employee.is_former,
        ENTERPRISE: {"employeeNumber": employee.employee_number} if employee.employee_number else {},
        PORTAL: {"jurisdiction": employee.jurisdiction},
    }
    if employee.external_id is not None:
        user["externalId"] = employee.external_id
    if not user[ENTERPRISE]:
        del user[ENTERPRISE]
        user["schemas"] = [USER, PORTAL]
    user["meta"] = {
        "resourceType": "User",
        "created": employee.created_at.isoformat().replace("+00:00", "Z"),
        "location": f"{base_url}/scim/v2/Users/{employee.id}",
        "version": version(user),
    }
    return user


def version(user: dict[str, Any]) -> str:
    """A weak ETag: a digest of everything the User says, so any change (SCIM or SSO) makes a new one."""
    content = {k: v for k, v in user.items() if k != "meta"}
    return 'W/"' + hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20] + '"'


def _folded(document: dict[str, Any]) -> dict[str, Any]:
    """Attribute names are case-insensitive (RFC 7643 section 2.1): keys as lower case."""
    return {str(k).lower(): v for k, v in document.items()}


def _text(value: Any, what: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise invalid(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise invalid(f"{what} must be a string")
    value = value.strip()
    if len(value) > TEXT_MAX or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise invalid(f"{what} must be at most {TEXT_MAX} printable characters")
    if required and not value:
        raise invalid(f"{what} is required")
    return value or None


def _required(value: Any, what: str) -> str:
    text = _text(value, what, required=True)
    if text is None:
        raise invalid(f"{what} is required")
    return text


def read_user(document: Any) -> UserFields:
    """A whole User (POST, PUT; and the result of a PATCH) as :class:`UserFields`. A published
    attribute with a value the portal cannot keep faithfully is refused, never cut or guessed;
    attributes outside the published schemas (title, addresses, phoneNumbers...) are not kept,
    as RFC 7643 section 3 allows, and the answer shows what was."""
    if not isinstance(document, dict):
        raise invalid("the body must be a JSON object", "invalidSyntax")
    user = _folded(document)
    schemas = user.get("schemas")
    if not isinstance(schemas, list) or USER not in schemas:
        raise invalid(f"schemas must list {USER}", "invalidSyntax")
    user_name = _required(user.get("username"), "userName")
    emails = user.get("emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
        raise invalid("emails must be a list of objects")
    work = personal = None
    for entry in (_folded(e) for e in emails):
        kind = entry.get("type") or "work"
        value = _text(entry.get("value"), "emails.value", required=True)
        if kind == "work":
            if work is not None and work.casefold() != (value or "").casefold():
                raise invalid("only one work e-mail is kept")
            work = value
        elif kind in PERSONAL_TYPES:
            if personal is not None:
                raise invalid("only one personal (home) e-mail is kept")
            personal = value
        else:
            raise invalid('emails.type must be "work" or "home"')
    if work is not None and work.casefold() != user_name.casefold():
        raise invalid("the work e-mail must be the userName")
    name = user.get("name")
    if name is not None and not isinstance(name, dict):
        raise invalid("name must be an object")
    name = _folded(name or {})
    display = (_text(user.get("displayname"), "displayName") or _text(name.get("formatted"), "name.formatted")
               or " ".join(filter(None, [_text(name.get("givenname"), "name.givenName"),
                                         _text(name.get("familyname"), "name.familyName")])))
    active = user.get("active")
    if isinstance(active, str) and active.lower() in ("true", "false"):  # as some directories send it
        active = active.lower() == "true"
    if active is not None and not isinstance(active, bool):
        raise invalid("active must be true or false")
    extensions = {k: v for k, v in document.items() if k.lower() in (ENTERPRISE.lower(), PORTAL.lower())}
    enterprise: dict[str, Any] = {}
    portal: dict[str, Any] = {}
    for key, value in extensions.items():
        if not isinstance(value, dict):
            raise invalid(f"{key} must be an object")
        (enterprise if key.lower() == ENTERPRISE.lower() else portal).update(_folded(value))
    jurisdiction = _required(portal.get("jurisdiction"), f"{PORTAL}:jurisdiction")
    return UserFields(
        user_name=user_name,
        display_name=display or "",
        jurisdiction=jurisdiction,
        timezone=_text(user.get("timezone"), "timezone") or "UTC",
        active=active,
        external_id=_text(user.get("externalid"), "externalId"),
        employee_number=_text(enterprise.get("employeenumber"), "employeeNumber"),
        personal_email=personal,
    )


# --- filters -----------------------------------------------------------------------------------

_FILTER = re.compile(r'^\s*(userName|externalId)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


def parse_filter(text: str) -> tuple[str, str]:
    """``userName eq "..."`` or ``externalId eq "..."``: (the attribute in lower case, the value)."""
    match = _FILTER.match(text)
    if not match:
        raise invalid('the filters supported are userName eq "..." and externalId eq "..."', "invalidFilter")
    try:
        value = json.loads(f'"{match.group(2)}"')
    except json.JSONDecodeError:
        raise invalid("the filter's string is malformed", "invalidFilter") from None
    return match.group(1).lower(), value


# --- PATCH -------------------------------------------------------------------------------------

_PATH = re.compile(r'^(?:(?P<urn>urn:[^ \[]+):)?(?P<attr>[A-Za-z][A-Za-z0-9_$-]*)'
                   r'(?:\[\s*type\s+eq\s+"(?P<type>[A-Za-z]+)"\s*\])?(?:\.(?P<sub>[A-Za-z][A-Za-z0-9_$-]*))?$',
                   re.IGNORECASE)
_URNS = {USER.lower(): None, ENTERPRISE.lower(): ENTERPRISE, PORTAL.lower(): PORTAL}


def _key(container: dict[str, Any], name: str) -> str:
    """The key ``name`` has in ``container``, matched without case (or ``name`` if absent)."""
    return next((k for k in container if k.lower() == name.lower()), name)


def _set(container: dict[str, Any], name: str, value: Any) -> None:
    container.pop(_key(container, name), None)
    container[name] = value


def apply_patch(current: dict[str, Any], document: Any) -> dict[str, Any]:
    """The User after a PatchOp (RFC 7644 section 3.5.2): add, replace and remove, with a path of
    the forms ``attr``, ``attr.sub``, ``urn:...:attr`` and ``emails[type eq "work"].value``, or no
    path and an object of attributes. The result is read again as a whole User by the caller."""
    if not isinstance(document, dict):
        raise invalid("the body must be a JSON object", "invalidSyntax")
    body = _folded(document)
    if PATCH_OP not in (body.get("schemas") or []):
        raise invalid(f"schemas must be [{PATCH_OP}]", "invalidSyntax")
    operations = body.get("operations")
    if not isinstance(operations, list) or not operations:
        raise invalid("Operations must be a non-empty list", "invalidSyntax")
    user = copy.deepcopy(current)
    user.pop("meta", None)
    for raw in operations:
        if not isinstance(raw, dict):
            raise invalid("each operation must be an object", "invalidSyntax")
        operation = _folded(raw)
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise invalid('op must be "add", "replace" or "remove"', "invalidSyntax")
        path = operation.get("path")
        if path is None:
            if op == "remove":
                raise invalid("remove needs a path", "noTarget")
            value = operation.get("value")
            if not isinstance(value, dict):
                raise invalid("an operation without a path needs an object of attributes", "invalidValue")
            for name, item in value.items():
                urn = _URNS.get(name.lower(), "")
                if urn is None and isinstance(item, dict):  # the core schema's URN: its attributes
                    for sub, sub_value in item.items():
                        _apply(user, op, str(sub), sub_value)
                elif urn and isinstance(item, dict):
                    target = user.setdefault(_key(user, urn), {})
                    for sub, sub_value in item.items():
                        _set(target, sub, sub_value)
                else:
                    _apply(user, op, str(name), item)
            continue
        if not isinstance(path, str):
            raise invalid("path must be a string", "invalidPath")
        _apply(user, op, path, operation.get("value"))
    _keep_user_name_and_work_email_together(current, user)
    return user


def _work_email(user: dict[str, Any]) -> str | None:
    for entry in user.get(_key(user, "emails")) or []:
        if isinstance(entry, dict) and str(entry.get("type", "work")).lower() == "work":
            value = entry.get(_key(entry, "value"))
            return value if isinstance(value, str) else None
    return None


def _keep_user_name_and_work_email_together(before: dict[str, Any], after: dict[str, Any]) -> None:
    """userName is the work e-mail: a PATCH that changes one of them changes the other."""
    old_name, new_name = before.get("userName"), after.get(_key(after, "userName"))
    old_work, new_work = _work_email(before), _work_email(after)
    if new_name != old_name and new_work == old_work and isinstance(new_name, str):
        emails = [e for e in after.get(_key(after, "emails")) or []
                  if not (isinstance(e, dict) and str(e.get("type", "work")).lower() == "work")]
        _set(after, "emails", [{"value": new_name, "type": "work", "primary": True}, *emails])
    elif new_work != old_work and new_name == old_name and new_work is not None:
        _set(after, "userName", new_work)


def _apply(user: dict[str, Any], op: str, path: str, value: Any) -> None:
    match = _PATH.match(path.strip())
    if not match:
        raise invalid("the path is not one this portal understands", "invalidPath")
    urn = (match.group("urn") or "").lower()
    if urn and urn not in _URNS:
        raise invalid("the path names an unknown schema", "invalidPath")
    attr, kind, sub = match.group("attr"), match.group("type"), match.group("sub")
    container = user if not _URNS.get(urn) else user.setdefault(_key(user, _URNS[urn] or ""), {})
    if kind is not None:
        if attr.lower() != "emails":  # emails is the one multi-valued attribute published
            if urn or attr.lower() in PUBLISHED:
                raise invalid("only emails can be chosen by type", "invalidPath")
            return  # outside the published schemas (addresses, phoneNumbers...): not kept
        emails = [e for e in user.get(_key(user, "emails")) or [] if isinstance(e, dict)]
        chosen = [e for e in emails if str(e.get("type", "work")).lower() == kind.lower()]
        others = [e for e in emails if e not in chosen]
        if op == "remove":
            if sub is not None:
                raise invalid("remove a whole e-mail, not part of one", "invalidPath")
            _set(user, "emails", others)
            return
        entry = dict(chosen[0]) if chosen else {"type": kind.lower()}
        if sub is not None:
            entry[sub] = value
        elif isinstance(value, dict):
            entry.update(value)
        else:
            raise invalid("an e-mail must be an object", "invalidValue")
        _set(user, "emails", others + [entry])
        return
    if op == "remove":
        if sub is not None:
            parent = container.get(_key(container, attr))
            if isinstance(parent, dict):
                parent.pop(_key(parent, sub), None)
        else:
            container.pop(_key(container, attr), None)
        return
    if sub is not None:
        parent = container.get(_key(container, attr))
        parent = dict(parent) if isinstance(parent, dict) else {}
        _set(parent, sub, value)
        _set(container, attr, parent)
        return
    if attr.lower() == "emails" and op == "add" and isinstance(value, list):
        kinds = {str(e.get("type", "work")).lower() for e in value if isinstance(e, dict)}
        kept = [e for e in user.get(_key(user, "emails")) or []
                if isinstance(e, dict) and str(e.get("type", "work")).lower() not in kinds]
        _set(user, "emails", kept + value)
        return
    _set(container, attr, value)


# --- partial representations (RFC 7644 section 3.4.2.5) ---------------------------------------

ALWAYS = frozenset({"schemas", "id"})


def _names(text: str) -> list[tuple[str | None, str, str | None]]:
    """``attributes`` or ``excludedAttributes``: (schema URN or None, attribute, sub-attribute)."""
    names: list[tuple[str | None, str, str | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if _URNS.get(part.lower()):  # a whole extension
            names.append((_URNS[part.lower()], "*", None))
            continue
        match = _PATH.match(part)
        if not match or match.group("type") is not None:
            raise invalid("attributes are names such as userName, name.formatted or urn:...:employeeNumber")
        urn = (match.group("urn") or "").lower()
        if urn and urn not in _URNS:
            raise invalid("an attribute names an unknown schema")
        names.append((_URNS.get(urn), match.group("attr").lower(), (match.group("sub") or "").lower() or None))
    return names


def select_attributes(user: dict[str, Any], attributes: str | None, excluded: str | None) -> dict[str, Any]:
    """The User with only ``attributes`` (and id, schemas), or without ``excludedAttributes``."""
    if attributes and excluded:
        raise invalid("attributes and excludedAttributes cannot be given together", "invalidSyntax")
    if not attributes and not excluded:
        return user
    chosen = _names(attributes or excluded or "")

    def wanted(urn: str | None, name: str, sub: str | None) -> bool:
        if name in ALWAYS and urn is None:
            return True
        if attributes:
            return any(u == urn and n in (name, "*") and (s is None or sub is None or s == sub) for u, n, s in chosen)
        return not any(u == urn and n in (name, "*") and (s is None or s == sub) for u, n, s in chosen)

    result: dict[str, Any] = {}
    for key, value in user.items():
        if key in (ENTERPRISE, PORTAL):
            inner = {k: v for k, v in value.items() if wanted(key, k.lower(), None)}
            if inner:
                result[key] = inner
        elif isinstance(value, dict) and key != "meta":
            inner = {k: v for k, v in value.items() if wanted(None, key.lower(), k.lower())}
            if inner:
                result[key] = inner
        elif wanted(None, key.lower(), None):
            result[key] = value
    return result
