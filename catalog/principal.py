"""Who is calling: the tenant, the role and the subject behind an authenticated request."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Roles nest: admin can do what an editor can, an editor what a reader can."""
        return _RANK[self] >= _RANK[needed]


# Outside the enum body, where a dict would otherwise become a member.
_RANK = {Role.READER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    role: Role
    subject: str
