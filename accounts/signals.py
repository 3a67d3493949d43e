"""When someone verifies an email address, its pending invitations become memberships."""

from allauth.account.signals import email_confirmed
from django.dispatch import receiver


@receiver(email_confirmed)
def accept_invitations_on_email_confirmed(sender, request, email_address, **kwargs):
    from collab.services import invitations_accept_for

    invitations_accept_for(user=email_address.user, email=email_address.email)
