"""Tests: fast password hashing, mail kept in memory, otherwise the same as base."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Rooms unload as soon as their last connection leaves, so tests see the idle path.
COLLAB = {**COLLAB, "ROOM_UNLOAD_DELAY": 0.0}  # noqa: F405
