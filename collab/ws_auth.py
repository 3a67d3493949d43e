"""Socket handshake middleware: `?token=` authentication and the origin check around it."""

from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.conf import settings
from django.contrib.auth import get_user_model


def _query_token(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    values = query.get("token")
    return values[0] if values else None


def _user_for_token(raw: str):
    """(user, document id the token is limited to, error, access token id, expiry) for a
    connect token or a PAT."""
    from accounts.selectors import access_token_for

    from .services import connect_token_read

    if raw.startswith("cpat_"):
        token = access_token_for(raw)
        if token is None:
            return None, None, "invalid token", None, None
        return token.user, None, None, token.pk, token.expires_at
    parsed = connect_token_read(raw)
    if parsed is None:
        return None, None, "invalid or expired token", None, None
    user_id, document_id = parsed
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None, None, "invalid token", None, None
    return user, document_id, None, None, None


class SocketSessionMiddleware(SessionMiddleware):
    """channels' SessionMiddleware without its wrapper around send.

    The wrapper checks on every outgoing message whether the session changed and must be
    saved (it reads two attributes through a lazy object each time): ~7 % of the server's
    CPU under W2, where a keystroke is sent to four sockets. A socket never changes the
    session (signing in and out happen over HTTP), so its messages go out unwrapped; the
    session itself is set up exactly as channels does it."""

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def SocketAuthMiddlewareStack(inner):
    """channels' AuthMiddlewareStack (cookies, session, user) for sockets."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))


class TokenAuthMiddleware:
    """If the handshake carries ?token=, that token decides who the user is (not the cookie)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = _query_token(scope)
        if raw is not None:
            lookup = database_sync_to_async(_user_for_token)
            user, document_id, error, token_id, expires_at = await lookup(raw)
            scope = dict(
                scope,
                auth_via_token=True,
                token_document_id=document_id,
                access_token_id=token_id,
                access_token_expires_at=expires_at,
            )
            if error:
                from django.contrib.auth.models import AnonymousUser

                scope["user"] = AnonymousUser()
                scope["token_error"] = error
            else:
                scope["user"] = user
        return await self.app(scope, receive, send)


class OriginOrTokenValidator:
    """Cookie-authenticated sockets only from this site's origins; token sockets from anywhere.

    A browser attaches its cookies to a socket that any page opens (cross-site WebSocket
    hijacking), so a handshake without ?token= must carry an Origin whose host is in
    ALLOWED_HOSTS (and whose scheme is https when cookies are HTTPS-only); a missing Origin
    or `null` is refused. A token is no ambient credential: its holder may connect from any
    origin or none (scripts, bots), and with ?token= the cookie is ignored (TokenAuthMiddleware).
    """

    def __init__(self, app):
        self.app = app
        self.checked = AllowedHostsOriginValidator(app)

    async def __call__(self, scope, receive, send):
        if _query_token(scope) is not None:
            return await self.app(scope, receive, send)
        origin = next(
            (value for name, value in scope.get("headers", []) if name == b"origin"), None
        )
        if origin is None:
            self._audit(scope, "no origin and no token")
            return await WebsocketDenier()(scope, receive, send)
        text = origin.decode("latin1")
        if not self.origin_allowed(text):
            self._audit(scope, "bad origin", origin=text[:200])
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)

    def origin_allowed(self, origin: str) -> bool:
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return False  # `null` (sandboxed frames, file: pages) and anything odd
        if settings.SESSION_COOKIE_SECURE and parsed.scheme != "https":
            # The session cookie is HTTPS-only: a plain-http page of the same host is one
            # an attacker on the network can write.
            return False
        return self.checked.valid_origin(parsed)

    @staticmethod
    def _audit(scope, reason: str, **detail) -> None:
        from .audit import socket_refused_soon

        # Refused before authentication: who it was is unknown; the path says what for.
        socket_refused_soon(
            scope=scope, document_id=None, reason=reason, path=scope.get("path", "")[:200], **detail
        )
