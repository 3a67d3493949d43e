"""The ASGI entry point: HTTP to Django, sockets through origin check, auth and routing."""

import os

from django.core.asgi import get_asgi_application

from collab.native_stack import raise_native_stack

# Before any worker thread exists (the database thread, pycrdt's off-loop work).
raise_native_stack()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from collab import audit  # noqa: E402
from collab.autobahn_logging import skip_debug_highlighting  # noqa: E402
from collab.rooms import registry  # noqa: E402
from collab.routing import websocket_urlpatterns  # noqa: E402
from collab.warm_up import warm_up, warm_up_when_running  # noqa: E402
from collab.webhook_delivery import WorkerStarter  # noqa: E402
from collab.ws_auth import (  # noqa: E402
    OriginOrTokenValidator,
    SocketAuthMiddlewareStack,
    TokenAuthMiddleware,
)


async def lifespan(scope, receive, send):
    """Uvicorn's startup/shutdown events (Daphne sends none; rooms and the warm-up hook its
    reactor instead): on startup, open the database connection and the channel layer; on
    shutdown, after Uvicorn closed the sockets, write every room's queued updates and the
    audit records still in flight."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await warm_up()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await registry().flush_all()
            await audit.settle_before_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


warm_up_when_running()
skip_debug_highlighting()

# WorkerStarter: the webhook delivery worker starts with a process's first connection.
application = WorkerStarter(
    ProtocolTypeRouter(
        {
            "lifespan": lifespan,
            "http": django_asgi_app,
            "websocket": OriginOrTokenValidator(
                SocketAuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)
