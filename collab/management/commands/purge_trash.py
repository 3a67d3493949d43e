"""Delete for good the documents that have been in the trash longer than the retention period."""

from django.core.management.base import BaseCommand

from collab import services
from collab.models import TRASH_RETENTION


class Command(BaseCommand):
    help = (
        f"Delete, with their update logs, documents deleted more than "
        f"{TRASH_RETENTION.days} days ago. Run it daily (cron, a scheduled job)."
    )

    def handle(self, *args, **options) -> None:
        purged = services.trash_purge()
        self.stdout.write(f"Purged {purged} document{'' if purged == 1 else 's'} from the trash.")
