"""Per-user live events (a document shared with me, renamed, deleted...) over the channel layer.

Services call `notify_users` after their transaction commits; every socket of those users
(the dashboard's per-user socket, collab.consumers_user) receives the event as JSON.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notify_users(user_ids, event: dict) -> None:
    """Send event (a JSON-able dict with a "type", e.g. "document.shared") to each user,
    once the current transaction (if any) has committed."""
    ids = sorted({int(i) for i in user_ids if i is not None})
    if not ids:
        return

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        for user_id in ids:
            try:
                async_to_sync(layer.group_send)(
                    user_group(user_id), {"type": "user.event", "event": event}
                )
            except Exception:
                # A missed live event only delays what the dashboard shows until reload.
                logger.warning("could not notify user %s", user_id, exc_info=True)

    transaction.on_commit(send)
