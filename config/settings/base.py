"""Settings shared by every environment, read from the environment with safe local defaults."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


DEBUG = env_bool("DEBUG", False)
# Local default only; production.py refuses to start without a real one.
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-local-development-key-change-me-0123456789")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    # Before allauth, so our template overrides (allauth/layouts/base.html) win.
    "accounts",
    "allauth",
    "allauth.account",
    "collab",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After AuthenticationMiddleware so a bearer token can replace the anonymous user,
    # and before CSRF's process_view so token requests (no cookies) skip CSRF.
    "accounts.middleware.BearerTokenMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite (with WAL, set on connect in collab/apps.py) unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections: channels' database_sync_to_async closes connections
        # older than this around every call, and reopening one per batch of updates
        # (for SQLite also checkpointing its WAL on every close) would cap write throughput.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for the lock instead of failing at once under concurrent requests.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# allauth: email is the identity; verification is mandatory so invitations by email
# only ever become memberships for the person who owns that address.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Collab <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploaded images; served by a view that checks document access, never as static files.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = "/media-not-served-directly/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Channel layer: in-memory for one process, Redis (channels-redis) when REDIS_URL is set.
# Capacity is raised from the default 100 on purpose: both layers silently drop group
# messages for a channel that is full, and each process has one channel per live room.
REDIS_URL = os.environ.get("REDIS_URL", "")
CHANNEL_CAPACITY = env_int("CHANNEL_CAPACITY", 10_000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer: a group_send is one PUBLISH that Redis fans out to the
            # processes subscribed to the group, and each process hands it to its own
            # channels from memory. (RedisChannelLayer's shared receive() can stall a
            # process's other receivers when one consumer's receive is cancelled; seen
            # here with rooms and per-user sockets in one process.)
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # redis-py 8 times out reads after 5 s by default; a longer read timeout
                # still notices a dead Redis.
                "hosts": [
                    {"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}
                ],
                "prefix": os.environ.get("CHANNEL_PREFIX", "collab"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 60},
        }
    }

# Collaboration limits and tuning (documented in docs/operations.md).
COLLAB = {
    # Largest frame a client may send, in bytes; Daphne is started with the same limit.
    "MAX_MESSAGE_BYTES": env_int("COLLAB_MAX_MESSAGE_BYTES", 16 * 1024 * 1024),
    # Deepest nesting of values/types accepted in one update (pycrdt crashes on deep ones).
    "MAX_UPDATE_DEPTH": env_int("COLLAB_MAX_UPDATE_DEPTH", 128),
    # Seconds the writer waits after the first queued update to gather a bigger batch.
    # 0 writes as soon as the previous write is done (batches form from whatever arrived
    # meanwhile), so an update waits for at most one write; keep it well under 0.1.
    "FLUSH_DELAY": env_float("COLLAB_FLUSH_DELAY", 0.0),
    # Write a snapshot when this many log rows follow the latest one.
    "SNAPSHOT_EVERY": env_int("COLLAB_SNAPSHOT_EVERY", 500),
    # Seconds a room stays loaded after its last connection leaves (page reloads reuse it).
    "ROOM_UNLOAD_DELAY": env_float("COLLAB_ROOM_UNLOAD_DELAY", 2.0),
    # Largest image upload, in bytes.
    "IMAGE_MAX_BYTES": env_int("COLLAB_IMAGE_MAX_BYTES", 10 * 1024 * 1024),
    # Lifetime of a connect token, in seconds.
    "CONNECT_TOKEN_MAX_AGE": env_int("COLLAB_CONNECT_TOKEN_MAX_AGE", 60),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

# API clients get JSON, not an HTML page, when a session request fails CSRF.
CSRF_FAILURE_VIEW = "collab.api.csrf_failure"
