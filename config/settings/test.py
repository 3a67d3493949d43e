"""Tests: fast password hashing, mail kept in memory, otherwise the same as base."""

import os

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Rooms unload as soon as their last connection leaves, so tests see the idle path.
COLLAB = {**COLLAB, "ROOM_UNLOAD_DELAY": 0.0}

# In-process tests (WebsocketCommunicator) run each test on its own event loop, which a
# process-wide Redis layer cannot follow; they use the in-memory layer. The live tests
# start real Daphne processes, which use channels-redis whenever REDIS_URL is set.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 60},
    }
}

# Each test process keeps its cache keys (rate-limit counters) under its own prefix, so a
# test can clear them without touching other processes' keys in a shared Redis.
CACHES["default"]["KEY_PREFIX"] = f"collab-test-{os.getpid()}"

# Test databases are dropped at the end of the run; a persistent connection held by the
# database thread would block that.
DATABASES["default"]["CONN_MAX_AGE"] = 0

# Test receivers listen on loopback. In-process tests drive the webhook worker by hand
# (each test has its own event loop); live tests start Daphne with local settings.
WEBHOOK_ALLOW_PRIVATE = True
WEBHOOK_WORKER = "off"
