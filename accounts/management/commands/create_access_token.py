"""`create_access_token EMAIL`: issue a personal access token and print only the raw token."""

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import user_by_email
from accounts.services import access_token_create, user_create_verified


class Command(BaseCommand):
    help = (
        "Create a personal access token for the user with EMAIL and print the raw token "
        "(only this once; just its hash is stored). With --create-user, an unknown EMAIL "
        "becomes a new user with that address already verified and no password."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="Create the user if no account has this email, vouching for the address.",
        )
        parser.add_argument("--name", default="cli", help="A label for the token (default: cli).")

    def handle(self, *args, email, create_user, name, **options):
        user = user_by_email(email=email)
        if user is None:
            if not create_user:
                raise CommandError(f"No user has the email {email!r} (see --create-user).")
            user = user_create_verified(email=email)
        if not user.is_active:
            raise CommandError(f"The user {user.email} is inactive; a token would not work.")
        _token, raw = access_token_create(user=user, name=name)
        # Nothing else on stdout, so `TOKEN=$(manage.py create_access_token …)` just works.
        self.stdout.write(raw)
