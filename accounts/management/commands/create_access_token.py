"""`create_access_token EMAIL`: issue a personal access token and print only the raw token."""

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import user_by_email
from accounts.services import MAX_TOKEN_DAYS, access_token_create, user_create_verified


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
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            metavar="DAYS",
            help=f"Expire the token after DAYS days (1 to {MAX_TOKEN_DAYS}); "
            "without it, the token is valid until revoked.",
        )

    def handle(self, *args, email, create_user, name, expires_in_days, **options):
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise CommandError(f"--expires-in-days must be between 1 and {MAX_TOKEN_DAYS}.")
        user = user_by_email(email=email)
        if user is None:
            if not create_user:
                raise CommandError(f"No user has the email {email!r} (see --create-user).")
            user = user_create_verified(email=email)
        if not user.is_active:
            raise CommandError(f"The user {user.email} is inactive; a token would not work.")
        _token, raw = access_token_create(user=user, name=name, expires_in_days=expires_in_days)
        # Nothing else on stdout, so `TOKEN=$(manage.py create_access_token …)` just works.
        self.stdout.write(raw)
