"""Settings for bench/fanout.py: local settings, channel layer chosen by FANOUT_LAYER."""

import os

from config.settings.local import *  # noqa: F403
from config.settings.local import CHANNEL_CAPACITY, REDIS_URL

_layer = os.environ.get("FANOUT_LAYER", "pubsub")
_prefix = os.environ.get("CHANNEL_PREFIX", "collab")
if _layer == "memory":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 60},
        }
    }
elif _layer == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": _prefix, "capacity": CHANNEL_CAPACITY},
        }
    }
# "pubsub": config.settings.base's RedisPubSubChannelLayer as deployed.
