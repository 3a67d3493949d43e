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
# HTTPS-only cookies (always on in production.py); sockets then also require an https
# Origin (collab/ws_auth.py).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # usersessions' page formats "last seen" with it.
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    # Before allauth, so our template overrides (allauth/layouts/base.html) win.
    "accounts",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "collab",
    "frontend",
]

MIDDLEWARE = [
    # Outermost: closes the connections a request's own thread opened (config/middleware.py).
    "config.middleware.CloseRequestConnectionsMiddleware",
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
    "csp.middleware.CSPMiddleware",
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
# Signup and password reset answer the same whether or not an address has an account.
ACCOUNT_PREVENT_ENUMERATION = True
# allauth's defaults, stated so they are reviewable; counted in the default cache (below),
# which every process shares when REDIS_URL is set.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/300s/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
    "confirm_email": "1/180s/key",
}
# Second factor: authenticator apps (TOTP) and single-use recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "Collab")

# Rate limits and allauth's TOTP replay guard live in the cache, so it must be shared by
# every process: Redis when REDIS_URL is set, else this process's memory.
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": os.environ.get("CACHE_PREFIX", "collab-cache"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Content-Security-Policy (django-csp): scripts only from our own static files, no inline
# script or eval; styles may be inline (ProseMirror and htmx set style attributes).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
    # Bytes of messages a socket may have waiting to be sent (a reader that stopped reading,
    # under Uvicorn's flow control) before it is closed with 4009 to reconnect and re-sync.
    # Twice the largest message, so one whole sync step 2 of the largest document fits.
    "SEND_BACKLOG_BYTES": env_int("COLLAB_SEND_BACKLOG_BYTES", 32 * 1024 * 1024),
    # Seconds a room's writer waits after the first queued update to gather a bigger
    # batch. Updates reach the process's own sockets when accepted, not when written, so
    # this costs them no latency (other processes get updates with their commit, and no
    # delay applies while one holds the room); it bounds how long an edit lives only in
    # clients' memory (docs/architecture.md "Durability"), and saves a transaction per
    # keystroke.
    "FLUSH_DELAY": env_float("COLLAB_FLUSH_DELAY", 0.2),
    # Strict durability: relay an update only once it is committed, so anything a
    # collaborator has seen is on disk even if every client vanishes with the process.
    # Costs a commit in every keystroke's latency (docs/benchmarks.md); FLUSH_DELAY is
    # then ignored.
    "RELAY_AFTER_COMMIT": env_bool("COLLAB_RELAY_AFTER_COMMIT", False),
    # How many collections of the middle generation run before a full garbage collection
    # (Python's default: 10); objects that exist when a process has started are frozen
    # out of collections (collab/heap.py). 0 leaves the collector as Python sets it.
    "GC_OLDEST_THRESHOLD": env_int("COLLAB_GC_OLDEST_THRESHOLD", 1000),
    # Write a snapshot when this many log rows follow the latest one.
    "SNAPSHOT_EVERY": env_int("COLLAB_SNAPSHOT_EVERY", 500),
    # Anti-entropy round (docs/deploy.md): seconds between checks that repair relays the
    # channel layer lost (one indexed query per live room when nothing changed).
    "ANTI_ENTROPY_INTERVAL": env_float("COLLAB_ANTI_ENTROPY_INTERVAL", 2.0),
    # Seconds without a message from another process's copy of a room before its presence
    # is dropped and its uncommitted updates are adopted.
    "PEER_TIMEOUT": env_float("COLLAB_PEER_TIMEOUT", 15.0),
    # Seconds an unrenewed remote awareness state lives (y-protocols: 30).
    "AWARENESS_TIMEOUT": env_float("COLLAB_AWARENESS_TIMEOUT", 30.0),
    # Seconds a room stays loaded after its last connection leaves (page reloads reuse it).
    "ROOM_UNLOAD_DELAY": env_float("COLLAB_ROOM_UNLOAD_DELAY", 2.0),
    # Largest image upload, in bytes.
    "IMAGE_MAX_BYTES": env_int("COLLAB_IMAGE_MAX_BYTES", 10 * 1024 * 1024),
    # Lifetime of a connect token, in seconds.
    "CONNECT_TOKEN_MAX_AGE": env_int("COLLAB_CONNECT_TOKEN_MAX_AGE", 60),
    # Seconds of pause after which one author's next edit starts a new history session.
    "HISTORY_SESSION_GAP": env_int("COLLAB_HISTORY_SESSION_GAP", 300),
    # Socket limits (collab/limits.py, docs/security.md "Sockets"); exceeding one closes
    # the socket with 4429 (4413 for sizes), which stock clients do not retry.
    # Updates per second per socket, and the burst a fast typist, a paste or a pen stroke
    # may spend at once.
    "UPDATES_PER_SECOND": env_float("COLLAB_UPDATES_PER_SECOND", 200.0),
    "UPDATE_BURST": env_int("COLLAB_UPDATE_BURST", 1000),
    # Frames of any kind (awareness: cursor moves) per second per socket, and their burst.
    "FRAMES_PER_SECOND": env_float("COLLAB_FRAMES_PER_SECOND", 400.0),
    "FRAME_BURST": env_int("COLLAB_FRAME_BURST", 2000),
    # Open document sockets per account and per document, in each server process.
    "MAX_CONNECTIONS_PER_USER": env_int("COLLAB_MAX_CONNECTIONS_PER_USER", 20),
    "MAX_CONNECTIONS_PER_DOCUMENT": env_int("COLLAB_MAX_CONNECTIONS_PER_DOCUMENT", 200),
    # Largest awareness update (one presence state: name, colour, cursor), in bytes.
    "MAX_AWARENESS_BYTES": env_int("COLLAB_MAX_AWARENESS_BYTES", 64 * 1024),
    # Seconds without a frame before a socket is closed (4008, clients reconnect). Stock
    # clients renew awareness every 15 s; background tabs may be throttled to once a minute.
    "IDLE_TIMEOUT": env_float("COLLAB_IDLE_TIMEOUT", 180.0),
    # Updates with missing dependencies: the socket is closed (4400) after more than this
    # many refusals over more than RESYNC_GIVE_UP_SECONDS without an accepted update (the
    # room itself may lack a lost relay for a few seconds; docs/security.md).
    "MAX_RESYNC_REQUESTS": env_int("COLLAB_MAX_RESYNC_REQUESTS", 5),
    "RESYNC_GIVE_UP_SECONDS": env_float("COLLAB_RESYNC_GIVE_UP_SECONDS", 30.0),
}

# Webhooks (docs/webhooks.md). Private, loopback, link-local and reserved targets are
# refused unless WEBHOOK_ALLOW_PRIVATE (local development and tests only).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# document.changed waits this long after a document's last change (per hook).
WEBHOOK_DEBOUNCE_SECONDS = env_float("WEBHOOK_DEBOUNCE_SECONDS", 10.0)
# Connect and read timeout of one delivery attempt, in seconds.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# Seconds to wait before retry 1, 2, ...; attempts = len + 1 (6 over ~9 minutes).
WEBHOOK_RETRY_DELAYS = [
    float(v) for v in env_list("WEBHOOK_RETRY_DELAYS", ["10", "30", "60", "120", "300"])
]
# "process": each Daphne process runs a worker task that queues debounced changes and
# sends deliveries; "external": it only queues changes, `manage.py deliver_webhooks`
# sends; "off": nothing runs by itself (in-process tests drive the worker by hand).
WEBHOOK_WORKER = os.environ.get("WEBHOOK_WORKER", "process")
# How often a worker looks for due deliveries and debounced changes, in seconds.
WEBHOOK_POLL_SECONDS = env_float("WEBHOOK_POLL_SECONDS", 1.0)

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
