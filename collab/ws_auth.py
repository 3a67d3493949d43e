"""Socket handshake middleware: `?token=` authentication and the origin check around it."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.contrib.auth import get_user_model


def _query_token(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    values = query.get("token")
    return values[0] if values else None


def _user_for_token(raw: str):
    """(user, document id the token is limited to, error) for a connect token or a PAT."""
    from accounts.selectors import user_for_access_token

    from .services import connect_token_read

    if raw.startswith("cpat_"):
        user = user_for_access_token(raw)
        return (user, None, None) if user else (None, None, "invalid token")
    parsed = connect_token_read(raw)
    if parsed is None:
        return None, None, "invalid or expired token"
    user_id, document_id = parsed
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None, None, "invalid token"
    return user, document_id, None


class TokenAuthMiddleware:
    """If the handshake carries ?token=, that token decides who the user is (not the cookie)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = _query_token(scope)
        if raw is not None:
            user, document_id, error = await database_sync_to_async(_user_for_token)(raw)
            scope = dict(scope, auth_via_token=True, token_document_id=document_id)
            if error:
                from django.contrib.auth.models import AnonymousUser

                scope["user"] = AnonymousUser()
                scope["token_error"] = error
            else:
                scope["user"] = user
        return await self.app(scope, receive, send)


class OriginOrTokenValidator:
    """Channels' allowed-hosts origin check, except that a token handshake may omit Origin.

    Browsers always send Origin, so a missing one means a script or bot, which must then
    authenticate with a token (cookies alone are not accepted without Origin). A present
    Origin is always checked, token or not.
    """

    def __init__(self, app):
        self.app = app
        self.checked = AllowedHostsOriginValidator(app)

    async def __call__(self, scope, receive, send):
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        if has_origin:
            return await self.checked(scope, receive, send)
        if _query_token(scope) is not None:
            return await self.app(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
