"""Build edit sessions from the update logs written before sessions were recorded."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.db.models.functions import Length

BATCH = 2000


def backfill(apps, schema_editor):
    """One pass over each document's log in seq order, the same grouping as sessions_record."""
    Document = apps.get_model("collab", "Document")
    DocumentUpdate = apps.get_model("collab", "DocumentUpdate")
    EditSession = apps.get_model("collab", "EditSession")
    gap = timedelta(seconds=settings.COLLAB.get("HISTORY_SESSION_GAP", 300))
    documents = Document.objects.filter(last_seq__gt=0).values_list("pk", flat=True)
    for document_id in documents.iterator():
        if EditSession.objects.filter(document_id=document_id).exists():
            continue  # recorded live already
        rows = (
            DocumentUpdate.objects.filter(document_id=document_id)
            .order_by("seq")
            .annotate(size=Length("data"))
            .values_list("seq", "author_id", "created_at", "size")
        )
        sessions, current = [], None
        for seq, author_id, created_at, size in rows.iterator(chunk_size=BATCH):
            if (
                current is not None
                and current.author_id == author_id
                and current.last_seq == seq - 1
                and created_at - current.ended_at <= gap
            ):
                current.last_seq = seq
                current.ended_at = max(current.ended_at, created_at)
                current.update_count += 1
                current.byte_count += size or 0
                continue
            current = EditSession(
                document_id=document_id,
                author_id=author_id,
                first_seq=seq,
                last_seq=seq,
                started_at=created_at,
                ended_at=created_at,
                update_count=1,
                byte_count=size or 0,
            )
            sessions.append(current)
            if len(sessions) > BATCH:
                # Keep the open session in memory: it may still grow.
                EditSession.objects.bulk_create(sessions[:-1])
                sessions = sessions[-1:]
        EditSession.objects.bulk_create(sessions)


class Migration(migrations.Migration):
    dependencies = [("collab", "0004_history_and_audit")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
