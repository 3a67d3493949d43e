"""Page views: one small function each, over collab's services and selectors."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from collab import permissions, selectors, services
from collab.models import DocumentKind, Membership


@require_GET
def document_list(request):
    if not request.user.is_authenticated:
        return render(request, "frontend/welcome.html")
    roles = dict(Membership.objects.filter(user=request.user).values_list("document_id", "role"))
    documents = [(d, roles.get(d.pk)) for d in selectors.documents_for(user=request.user)]
    return render(
        request,
        "frontend/document_list.html",
        {"documents": documents, "kinds": DocumentKind.choices},
    )


@require_POST
@login_required
def document_create(request):
    try:
        document = services.document_create(
            owner=request.user,
            title=request.POST.get("title", ""),
            kind=request.POST.get("kind", DocumentKind.TEXT),
        )
    except services.ServiceError as exc:
        roles = dict(
            Membership.objects.filter(user=request.user).values_list("document_id", "role")
        )
        documents = [(d, roles.get(d.pk)) for d in selectors.documents_for(user=request.user)]
        return render(
            request,
            "frontend/document_list.html",
            {"documents": documents, "kinds": DocumentKind.choices, "error": str(exc)},
            status=400,
        )
    return redirect("document_page", document_id=document.pk)


@require_GET
@login_required
def document_page(request, document_id):
    document = selectors.document_get(document_id=document_id)
    role = selectors.role_of(user=request.user, document_id=document_id) if document else None
    if not permissions.can_read(role):
        raise Http404("No such document.")
    return render(
        request,
        "frontend/document.html",
        {"document": document, "role": role, "can_edit": permissions.can_write(role)},
    )
