"""Webhook pages for owners: list and create hooks, see a new secret once, the delivery log."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from collab import selectors, services, webhooks

from .views import htmx_redirect

# The session key holding a just-made secret until the hook's page shows it (once).
SECRET_KEY = "webhook-secret-{}"


def _owned_documents(user):
    return selectors.documents_for(user=user).filter(memberships__user=user, my_role="owner")


def _hook_for(request, webhook_id):
    webhook = webhooks.webhook_get(user=request.user, webhook_id=webhook_id)
    if webhook is None:
        raise Http404("No such webhook.")
    return webhook


def _list_context(request, **extra) -> dict:
    return {
        "webhooks": webhooks.webhooks_for(user=request.user),
        "documents": _owned_documents(request.user),
        "events": webhooks.EVENTS,
        "selected_document": request.GET.get("document", ""),
        **extra,
    }


@require_GET
@login_required
def webhook_list(request):
    return render(request, "frontend/webhooks.html", _list_context(request))


@require_POST
@login_required
def webhook_create(request):
    document = None
    document_id = request.POST.get("document", "")
    if document_id:
        document = next(
            (d for d in _owned_documents(request.user) if str(d.pk) == document_id), None
        )
        if document is None:
            raise Http404("No such document.")
    try:
        webhook = webhooks.webhook_create(
            owner=request.user,
            url=request.POST.get("url", ""),
            events=request.POST.getlist("events") or None,
            document=document,
        )
    except services.ServiceError as exc:
        context = _list_context(
            request, error=str(exc), url=request.POST.get("url", ""), selected_document=document_id
        )
        return render(request, "frontend/webhooks.html", context, status=400)
    request.session[SECRET_KEY.format(webhook.pk)] = webhook.secret
    return redirect("webhook_detail", webhook_id=webhook.pk)


@require_GET
@login_required
def webhook_detail(request, webhook_id):
    webhook = _hook_for(request, webhook_id)
    context = {
        "webhook": webhook,
        # Shown once: gone from the session as soon as this page has it.
        "secret": request.session.pop(SECRET_KEY.format(webhook.pk), None),
        "deliveries": webhooks.deliveries_of(webhook=webhook),
    }
    return render(request, "frontend/webhooks_detail.html", context)


@require_POST
@login_required
def webhook_test(request, webhook_id):
    webhooks.webhook_ping(webhook=_hook_for(request, webhook_id), actor=request.user)
    messages.info(request, "A ping is on its way; reload to see the attempt.")
    return redirect("webhook_detail", webhook_id=webhook_id)


@require_POST
@login_required
def webhook_toggle(request, webhook_id):
    webhook = _hook_for(request, webhook_id)
    webhooks.webhook_update(webhook=webhook, active=not webhook.active)
    return redirect("webhook_detail", webhook_id=webhook_id)


@require_POST
@login_required
def webhook_rotate(request, webhook_id):
    webhook = webhooks.webhook_rotate_secret(webhook=_hook_for(request, webhook_id))
    request.session[SECRET_KEY.format(webhook.pk)] = webhook.secret
    return redirect("webhook_detail", webhook_id=webhook_id)


@require_POST
@login_required
def webhook_delete(request, webhook_id):
    webhooks.webhook_delete(webhook=_hook_for(request, webhook_id))
    messages.info(request, "Webhook deleted.")
    return htmx_redirect(request, reverse("webhook_list"))
