"""Profile page (display name, cursor colour) and personal access token management."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .forms import AccessTokenCreateForm, ProfileForm
from .selectors import access_tokens_for


def _profile_page(request, *, profile_form=None, token_form=None, raw_token=None):
    user = request.user
    initial = {"display_name": user.display_name, "cursor_color": user.cursor_color}
    context = {
        "profile_form": profile_form or ProfileForm(initial=initial),
        "tokens": access_tokens_for(user=user),
        "token_form": token_form or AccessTokenCreateForm(),
        "raw_token": raw_token,
    }
    return render(request, "accounts/profile.html", context)


def _token_section(request, *, token_form=None, raw_token=None):
    """The token section alone for htmx, else the whole profile page around it."""
    if not request.headers.get("HX-Request"):
        return _profile_page(request, token_form=token_form, raw_token=raw_token)
    context = {
        "tokens": access_tokens_for(user=request.user),
        "token_form": token_form or AccessTokenCreateForm(),
        "raw_token": raw_token,
    }
    return render(request, "accounts/partials/tokens.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    if request.method == "GET":
        return _profile_page(request)
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return _profile_page(request, profile_form=form)
    services.profile_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Profile saved.")
    return redirect("profile")


# never_cache: the response may carry a raw token, which must not stay in any cache.
@never_cache
@login_required
@require_POST
def access_token_create(request):
    form = AccessTokenCreateForm(request.POST)
    if not form.is_valid():
        return _token_section(request, token_form=form)
    _token, raw = services.access_token_create(
        user=request.user,
        name=form.cleaned_data["name"],
        expires_in_days=form.cleaned_data["expires"],
        request=request,
    )
    # Rendered, not redirected: the raw token exists only in this response.
    return _token_section(request, raw_token=raw)


@login_required
@require_POST
def access_token_revoke(request, token_id: int):
    if not services.access_token_revoke(user=request.user, token_id=token_id, request=request):
        raise Http404("No such token.")
    if request.headers.get("HX-Request"):
        return _token_section(request)
    messages.success(request, "Token revoked.")
    return redirect("profile")
