"""Account signals: a verified address accepts its pending invitations; sign-ins,
failed sign-ins and sign-outs go to the audit trail."""

from allauth.account.signals import email_confirmed
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver


@receiver(email_confirmed)
def accept_invitations_on_email_confirmed(sender, request, email_address, **kwargs):
    from collab.services import invitations_accept_for

    invitations_accept_for(user=email_address.user, email=email_address.email, request=request)


@receiver(user_logged_in)
def audit_signed_in(sender, request, user, **kwargs):
    from collab import audit

    audit.record("signin", actor=user, request=request)


@receiver(user_login_failed)
def audit_signin_failed(sender, credentials, request=None, **kwargs):
    from collab import audit

    # Django has already masked secrets in credentials; keep only who was tried.
    tried = credentials.get("email") or credentials.get("username") or ""
    audit.record("signin.failed", request=request, email=str(tried)[:254])


@receiver(user_logged_out)
def audit_signed_out(sender, request, user, **kwargs):
    from collab import audit

    audit.record("signout", actor=user, request=request)
