"""Ending a session, changing a password or deactivating an account closes live sockets."""

from allauth.usersessions.models import UserSession
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import User
from .socket_sessions import sessions_ended_send


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs):
    # Sent before logout() flushes the session, so its key is still the one sockets hold.
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        sessions_ended_send(user_id=user.pk, session_keys=[session.session_key])


@receiver(post_delete, sender=UserSession)
def close_sockets_of_ended_session(sender, instance, **kwargs):
    # usersessions' "sign out" of a session (and its purge of dead ones) deletes the row.
    sessions_ended_send(user_id=instance.user_id, session_keys=[instance.session_key])


@receiver(post_save, sender=User)
def close_sockets_on_password_change_or_deactivation(sender, instance, created, **kwargs):
    if created:
        return
    # set_password() keeps the new raw password in _password until save() has finished
    # (Django runs its password_changed hooks from it), so this sees every password change:
    # the password pages, a reset, the admin and `changepassword`. Every session signed in
    # with the old password is void; the session that made the change gets a new key.
    password_changed = getattr(instance, "_password", None) is not None
    if password_changed or not instance.is_active:
        sessions_ended_send(user_id=instance.pk)


@receiver(post_delete, sender=User)
def close_sockets_of_deleted_user(sender, instance, **kwargs):
    sessions_ended_send(user_id=instance.pk)
