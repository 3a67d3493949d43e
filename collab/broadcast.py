"""Channel-layer names and the messages that reach every process's copy of a room."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def room_group(document_id) -> str:
    """The group every process holding a live copy of the document joins."""
    return f"doc.{document_id}"


def access_changed_send(*, document_id, user_id: int | None) -> None:
    """Tell every process that a user's access changed (None: the document is gone).

    Rooms re-check the role of that user's live connections: a removed member's sockets
    are closed, a demoted editor continues as a viewer.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            room_group(document_id), {"type": "access.changed", "user_id": user_id}
        )
    except Exception:
        # The database change stands either way; a live socket keeps its old role until it
        # reconnects. Logged loudly because that is a (short-lived) security gap.
        logger.exception("could not notify rooms of an access change for %s", document_id)
