"""HTTP middleware: `Authorization: Bearer <personal access token>` authenticates a request."""

from django.http import JsonResponse

from .selectors import user_for_access_token


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            user = user_for_access_token(header[7:].strip())
            if user is None:
                return JsonResponse(
                    {"error": "invalid_token", "message": "The access token is invalid."},
                    status=401,
                )
            request.user = user
            # A bearer request carries no cookies, so there is no session to forge: CSRF
            # protection does not apply to it.
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)
