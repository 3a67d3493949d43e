"""Close an HTTP request's database connections when it ends, if its thread ends with it."""

from asgiref.sync import SyncToAsync
from django.db import connections


class CloseRequestConnectionsMiddleware:
    """Under ASGI, Django runs each HTTP request's sync code in a thread of its own (a
    ThreadSensitiveContext), and the connection that thread opens is stored in the
    request's context, where Django's request_finished handler (which runs in another
    context) never sees it. With persistent connections (DB_CONN_MAX_AGE) it stayed open
    until the garbage collector found it: PostgreSQL refused new clients after ~100 API
    requests under load ("sorry, too many clients already";
    tests/live/test_db_connections.py). So the request closes what it opened, here, in
    its own thread.

    Elsewhere nothing changes: channels' database thread (rooms, the update log) keeps its
    persistent connection, and a request outside a per-request thread (the test client,
    WSGI) is left to Django's own handling."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            if SyncToAsync.thread_sensitive_context.get(None) is not None:
                for connection in connections.all(initialized_only=True):
                    if not connection.in_atomic_block:
                        connection.close()
