"""Profile page (display name, cursor colour) and personal access token management."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def profile(request):
    return HttpResponse("profile")
