"""The demo identities (docs/architecture.md, "The demo"): who they are at the demo IdP and in
the portal."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    country: str
    timezone: str
    employee_number: str
    groups: tuple[str, ...] = ()
    former: bool = False
    personal_email: str | None = None  # a former employee's, for the /former path
    data: bool = True
    claims_extra: dict[str, str] = field(default_factory=dict)
    locale: str = ""  # the IdP's locale claim (OIDC), when the person has one

    def claims(self) -> dict[str, object]:
        return {**({"locale": self.locale} if self.locale else {}),
            "email": self.email,
            "email_verified": True,
            "name": self.name,
            "zoneinfo": self.timezone,
            "country": self.country,
            "employee_number": self.employee_number,
            "groups": list(self.groups),
        }


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("alice@example.com", "Alice Martín", "ES", "Europe/Madrid", "E1001", locale="es-ES"),
    DemoPerson("bob@example.com", "Bob Chen", "US-CA", "America/Los_Angeles", "E1002"),
    DemoPerson("carla@example.com", "Carla Rodríguez", "CO", "America/Bogota", "E1003", locale="es-CO"),
    DemoPerson("dana@example.com", "Dana Okafor", "ES", "Europe/Madrid", "E1004", groups=("dpo",)),
    DemoPerson("admin@example.com", "Adrián Admin", "ES", "Europe/Madrid", "E1005", groups=("privacy-admin",),
               data=False),
    DemoPerson("frank@example.com", "Frank Former", "ES", "Europe/Madrid", "E0999", former=True,
               personal_email="frank.home@example.net"),
    # Last, so that the people before keep their seeded data's ids.
    DemoPerson("bruno@example.com", "Bruno Souza", "BR", "America/Sao_Paulo", "E1006"),
)
