"""Who may do what to a document, from their role in it."""

from .models import WRITE_ROLES, Role


def can_read(role: str | None) -> bool:
    return role is not None


def can_write(role: str | None) -> bool:
    return role in WRITE_ROLES


def can_manage(role: str | None) -> bool:
    """Owners rename, delete and manage members."""
    return role == Role.OWNER


def can_rename(role: str | None) -> bool:
    return role in WRITE_ROLES


def can_see_history(role: str | None) -> bool:
    """Editors and owners browse, compare and restore versions; viewers do not (Google Docs)."""
    return role in WRITE_ROLES
