"""Document writes: create, update, delete, members, invitations, connect tokens."""


def invitations_accept_for(*, user, email: str) -> int:
    return 0
