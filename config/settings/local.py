"""Local development: debug on unless DEBUG says otherwise."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)

# Serve static files straight from the apps (no collectstatic) when running locally.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# A receiver on this machine (a local tool, the live tests) may get webhooks.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", True)
