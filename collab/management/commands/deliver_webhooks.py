"""Send due webhook deliveries: a worker process apart from Daphne (Procfile `worker:`)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from collab.webhook_delivery import deliver_due


class Command(BaseCommand):
    help = (
        "Send due webhook deliveries with retries, in a loop (or once with --once). Several "
        "workers may run at once: on PostgreSQL each delivery is claimed by one of them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Send what is due, then exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between rounds (default WEBHOOK_POLL_SECONDS).",
        )

    def handle(self, *args, once: bool, interval: float | None, **options):
        interval = settings.WEBHOOK_POLL_SECONDS if interval is None else interval
        if once:
            sent = self._round()
            self.stdout.write(f"Attempted {sent} deliver{'y' if sent == 1 else 'ies'}.")
            return
        self.stdout.write("Delivering webhooks (Ctrl-C to stop).")
        try:
            while True:
                # Something was due, so more may be: go again without waiting.
                if self._round() == 0:
                    time.sleep(interval)
        except KeyboardInterrupt:
            pass

    def _round(self) -> int:
        close_old_connections()
        try:
            return deliver_due()
        except Exception as exc:
            # The database may be away for a moment; the loop keeps going.
            self.stderr.write(f"webhook round failed: {exc}")
            return 0
        finally:
            close_old_connections()
