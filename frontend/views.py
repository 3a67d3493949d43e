"""Page views: one small function each."""

from django.http import HttpResponse


def document_list(request):
    return HttpResponse("list")
