"""collab.log_writer: rooms' appends that wait together share one transaction."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from pycrdt import Doc, Text

from collab import services, store
from collab.log_writer import LogWriter

pytestmark = pytest.mark.django_db(transaction=True)


def updates(count: int) -> list[store.PendingUpdate]:
    doc = Doc()
    text = doc.get("t", type=Text)
    out = []
    for i in range(count):
        before = doc.get_state()
        text += f"{i} "
        out.append(store.PendingUpdate(doc.get_update(before), None, timezone.now()))
    return out


async def test_appends_waiting_together_go_in_one_transaction(ann, monkeypatch):
    documents = [
        await sync_to_async(services.document_create)(owner=ann, title=f"D{i}") for i in range(4)
    ]
    calls = []
    real = store.updates_append_many

    def counting(batches, sessions=None):
        calls.append([str(document_id) for document_id, _ in batches])
        return real(batches, sessions)

    monkeypatch.setattr(store, "updates_append_many", counting)
    writer = LogWriter()
    # The first append starts a transaction; the three that arrive while it runs share one.
    results = await asyncio.gather(
        *(writer.append(document.pk, updates(i + 1)) for i, document in enumerate(documents))
    )
    assert results == [1, 2, 3, 4]
    assert sum(len(call) for call in calls) == 4
    assert len(calls) <= 2


async def test_a_deleted_document_fails_alone(ann):
    kept = await sync_to_async(services.document_create)(owner=ann, title="Kept")
    gone = await sync_to_async(services.document_create)(owner=ann, title="Gone")
    gone_id = gone.pk
    await sync_to_async(gone.delete)()
    writer = LogWriter()
    results = await asyncio.gather(
        writer.append(gone_id, updates(1)),
        writer.append(kept.pk, updates(2)),
        return_exceptions=True,
    )
    assert isinstance(results[0], store.DocumentGone)
    assert results[1] == 2


async def test_a_failed_transaction_fails_every_append_in_it(ann, monkeypatch):
    documents = [
        await sync_to_async(services.document_create)(owner=ann, title=f"D{i}") for i in range(2)
    ]

    def down(batches, sessions=None):
        raise RuntimeError("database down")

    monkeypatch.setattr(store, "updates_append_many", down)
    writer = LogWriter()
    results = await asyncio.gather(
        *(writer.append(document.pk, updates(1)) for document in documents),
        return_exceptions=True,
    )
    assert all(isinstance(result, RuntimeError) for result in results)
