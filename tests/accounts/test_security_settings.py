"""Content-Security-Policy, production settings and the deployment safety check."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from config.checks import deployment_safety

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize("url", ["/", "/accounts/login/"])
def test_pages_carry_a_csp_without_inline_or_eval_scripts(client, url):
    response = client.get(url)
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["default-src"]


def test_signed_in_dashboard_carries_the_csp(user_client):
    response = user_client.get("/")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]


TEMPLATE_DIRS = [ROOT / "frontend" / "templates", ROOT / "accounts" / "templates"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\s(?:on[a-z]+|hx-on[:\-][\w:-]*)\s*=", re.IGNORECASE)


def test_templates_have_no_inline_scripts_or_handlers():
    """The CSP would block them: behaviour belongs in static files (frontend/static)."""
    offenders = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            text = path.read_text()
            for pattern in (INLINE_SCRIPT, INLINE_HANDLER):
                offenders += [
                    f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(text)
                ]
    assert offenders == []


def test_the_check_refuses_an_in_memory_layer_and_a_wildcard_host():
    in_memory = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(DEBUG=False, CHANNEL_LAYERS=in_memory, ALLOWED_HOSTS=["*"]):
        ids = sorted(e.id for e in deployment_safety())
    assert ids == ["collab.E001", "collab.E002"]
    redis = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}
    with override_settings(DEBUG=False, CHANNEL_LAYERS=redis, ALLOWED_HOSTS=["collab.example"]):
        assert deployment_safety() == []
    with override_settings(DEBUG=True, CHANNEL_LAYERS=in_memory, ALLOWED_HOSTS=["*"]):
        assert deployment_safety() == []


def run_deploy_check(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "ALLOWED_HOSTS": "collab.example.com",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_with_redis():
    result = run_deploy_check(REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_fail_check_deploy_without_redis():
    result = run_deploy_check()
    assert result.returncode != 0
    assert "collab.E001" in result.stderr + result.stdout


def test_production_settings_are_https_only():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings as s; import django; django.setup(); "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
            "s.ACCOUNT_EMAIL_VERIFICATION, s.DEBUG)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "ALLOWED_HOSTS": "collab.example.com",
            "ACCOUNT_EMAIL_VERIFICATION": "none",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["True", "True", "True", "mandatory", "False"], result.stderr
