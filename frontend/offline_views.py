"""/sw.js: the offline service worker, served from the site root so its scope is the site."""

from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_GET

SERVICE_WORKER = Path(__file__).resolve().parent / "static" / "frontend" / "sw.js"


@require_GET
def service_worker(request):
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="text/javascript")
    # Browsers check for a new worker on navigation; never let a cache hold an old one.
    response["Cache-Control"] = "no-cache"
    return response
