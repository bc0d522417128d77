"""The discovery documents (RFC 7644 section 4): what this service provider supports, and the
schemas of the attributes it keeps (RFC 7643 sections 5-7), nothing it would drop."""

from __future__ import annotations

from typing import Any

from portal.scim.resources import ENTERPRISE, LIST, PORTAL, USER, ScimError

SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def service_provider_config(base: str, max_results: int) -> dict[str, Any]:
    return {
        "schemas": [SPC],
        "documentationUri": f"{base}/scim/v2/Schemas",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token",
            "description": "A service token of scope scim: flask --app wsgi api token create --scope scim",
            "primary": True}],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/scim/v2/ServiceProviderConfig"},
    }


def resource_types(base: str) -> list[dict[str, Any]]:
    return [{
        "schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
        "description": "An employee of the portal", "schema": USER,
        "schemaExtensions": [{"schema": ENTERPRISE, "required": False}, {"schema": PORTAL, "required": True}],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/scim/v2/ResourceTypes/User"},
    }]


def _attribute(name: str, description: str, *, type_: str = "string", required: bool = False,
               unique: str = "none", case_exact: bool = False, multi: bool = False,
               mutability: str = "readWrite", returned: str = "default",
               sub: list[dict[str, Any]] | None = None, canonical: list[str] | None = None) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name, "type": type_, "multiValued": multi, "description": description, "required": required,
        "caseExact": case_exact, "mutability": mutability, "returned": returned, "uniqueness": unique}
    if sub is not None:
        attribute["subAttributes"] = sub
    if canonical is not None:
        attribute["canonicalValues"] = canonical
    return attribute


def schemas(base: str) -> list[dict[str, Any]]:
    user = [
        _attribute("userName", "The work e-mail address.", required=True, unique="server"),
        _attribute("name", "The person's name; kept as one formatted name.", type_="complex", sub=[
            _attribute("formatted", "The full name."),
            _attribute("givenName", "Given name; joined with familyName when no formatted name is sent.",
                       returned="never"),
            _attribute("familyName", "Family name; joined with givenName when no formatted name is sent.",
                       returned="never")]),
        _attribute("displayName", "The name the portal shows."),
        _attribute("emails", "The work e-mail (type work, equal to userName) and the personal e-mail a "
                             "former employee verifies with (type home).", type_="complex", multi=True, sub=[
            _attribute("value", "The address."),
            _attribute("type", "work or home.", canonical=["work", "home"]),
            _attribute("primary", "The work address is primary.", type_="boolean")]),
        _attribute("timezone", "IANA time zone (Europe/Madrid)."),
        _attribute("active", "false: the person has left (signed out everywhere, SSO refused, data kept).",
                   type_="boolean"),
        _attribute("externalId", "The provisioning system's identifier.", case_exact=True),
    ]
    enterprise = [_attribute("employeeNumber", "The employee number the capture agents report.",
                             case_exact=True, unique="server")]
    portal = [_attribute("jurisdiction", "ISO 3166 country with an optional subdivision (ES, US-CA, CO, BR): "
                                         "the law the person's rights and deadlines follow.", required=True)]
    return [
        {"schemas": [SCHEMA], "id": urn, "name": name, "description": description, "attributes": attributes,
         "meta": {"resourceType": "Schema", "location": f"{base}/scim/v2/Schemas/{urn}"}}
        for urn, name, description, attributes in (
            (USER, "User", "User account", user),
            (ENTERPRISE, "EnterpriseUser", "Enterprise user", enterprise),
            (PORTAL, "PortalUser", "What the privacy portal needs about an employee", portal))
    ]


def listed(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [LIST], "totalResults": len(resources), "startIndex": 1, "itemsPerPage": len(resources),
            "Resources": resources}


def one(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for resource in resources:
        if resource["id"] == name:
            return resource
    raise ScimError(404, "no such resource")
