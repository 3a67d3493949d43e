"""Large snapshots applied in pieces: collab.update_split's plans, and the store using them."""

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText, merge_updates

from collab import services, store
from collab.client_ids import state_vector
from collab.models import DocumentSnapshot
from collab.update_guard import check_update
from collab.update_split import PIECE_BYTES, plan_pieces, split_plan

# ---------------------------------------------------------------- documents of every shape


def items_at_front(count: int, client_id: int | None = None) -> Doc:
    """Many small text items that never merge (each inserted at the front)."""
    doc = Doc(client_id=client_id) if client_id else Doc()
    text = doc.get("text", type=Text)
    for i in range(count):
        text.insert(0, f"{i:06d} lorem ipsum\n")
    return doc


def interleaved_text() -> Doc:
    """Two writers editing one text in turns, each syncing the other's edits first, with
    deletions, formatting, embeds, non-ASCII and astral characters: items whose origins
    cross clients back and forth."""
    ann, bob = Doc(client_id=11), Doc(client_id=22)
    for turn in range(300):
        writer, reader = (ann, bob) if turn % 2 else (bob, ann)
        text = writer.get("text", type=Text)
        before = writer.get_state()
        # At either end, so that no index lands inside a multi-byte character (pycrdt
        # indexes are not code points).
        word = f"é{turn}😀 " if turn % 3 else f"t{turn} "
        text.insert(len(text) if turn % 4 < 2 else 0, word)
        if turn % 5 == 0 and turn:
            del text[0:3]
        if turn % 7 == 0:
            text.format(0, 3, {"bold": True})
        if turn % 11 == 0:
            text.insert_embed(0, {"image": f"https://example.com/{turn}.png"})
        reader.apply_update(writer.get_update(before))
    return ann


def rich_xml() -> Doc:
    """A Tiptap-like tree: elements with attributes, texts with marks, nested lists."""
    doc = Doc(client_id=33)
    root = doc.get("default", type=XmlFragment)
    for i in range(120):
        heading = root.children.append(XmlElement("heading", {"level": str(1 + i % 3)}))
        heading.children.append(XmlText(f"Heading {i}"))
        paragraph = root.children.append(XmlElement("paragraph"))
        text = paragraph.children.append(XmlText(f"Some text {i} with ünïcode "))
        text.insert(len(text), "bold", {"bold": True})
        listing = root.children.append(XmlElement("bulletList"))
        item = listing.children.append(XmlElement("listItem"))
        item.children.append(XmlElement("paragraph")).children.append(XmlText(f"item {i}"))
        if i % 4 == 0:
            del root.children[len(root.children) - 2]
    return doc


def maps_and_arrays() -> Doc:
    """Nested maps, arrays and texts holding every kind of plain value; overwritten keys."""
    doc = Doc(client_id=44)
    shapes = doc.get("shapes", type=Map)
    order = doc.get("order", type=Array)
    for i in range(200):
        shapes[f"s{i}"] = Map(
            {
                "type": "freehand",
                "points": Array([i, i + 0.5, -i, 2**40 + i]),
                "style": {"color": "#ff0000", "width": 2.5, "dash": None, "on": i % 2 == 0},
                "label": Text(f"shape {i}"),
                "blob": b"\x00\x01" * (i % 5),
                "tags": ["a", ["b", {"c": [1, 2, {"d": "e"}]}]],
            }
        )
        order.append(f"s{i}")
        if i % 3 == 0:
            shapes[f"s{i}"]["type"] = "rectangle"  # the old value is deleted
        if i % 10 == 0:
            del shapes[f"s{i}"]
            order.pop()
    return doc


def with_subdocument() -> Doc:
    doc = Doc(client_id=55)
    pages = doc.get("pages", type=Map)
    for i in range(50):
        pages[f"p{i}"] = Doc()
        doc.get("log", type=Text).insert(0, f"page {i} ")
    return doc


# Each shape and its root types.
SHAPES = {
    "items at the front": (lambda: items_at_front(400), {"text": Text}),
    "interleaved writers": (interleaved_text, {"text": Text}),
    "rich xml": (rich_xml, {"default": XmlFragment}),
    "maps and arrays": (maps_and_arrays, {"shapes": Map, "order": Array}),
    "subdocuments": (with_subdocument, {"pages": Map, "log": Text}),
}


def _plain(value):
    if isinstance(value, Map):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Array):
        return [_plain(item) for item in value]
    if isinstance(value, Doc):
        return ("doc", value.guid)
    if isinstance(value, Text | XmlFragment):
        return str(value)
    return value


def _deletes(doc: Doc) -> dict[int, list[tuple[int, int]]]:
    """A document's delete set as merged ranges per client."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for client, start, end in sorted(check_update(doc.get_update()).deletes):
        merged = ranges.setdefault(client, [])
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return ranges


def assert_same_document(a: Doc, b: Doc, roots: dict) -> None:
    """Same CRDT state (state vector and delete set) and same content. Not the same bytes:
    yrs encodes some equal states in different orders (maps)."""
    assert state_vector(a.get_state()) == state_vector(b.get_state())
    assert _deletes(a) == _deletes(b)
    for name, kind in roots.items():
        assert _plain(a.get(name, type=kind)) == _plain(b.get(name, type=kind))


def apply_checked(pieces: list[bytes]) -> Doc:
    """Apply pieces in order, checking that none waits for anything not yet applied (yrs
    would keep it pending: the loop would then pay for it in a later, bigger apply)."""
    doc = Doc()
    for piece in pieces:
        missing = check_update(piece).missing_dependencies(state_vector(doc.get_state()))
        assert missing == []
        doc.apply_update(piece)
    return doc


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("piece_bytes", [1, 200, 4096])
def test_pieces_rebuild_exactly_the_document_they_were_cut_from(shape, piece_bytes):
    make, roots = SHAPES[shape]
    source = make()
    update = source.get_update()
    plan = split_plan(update, piece_bytes=piece_bytes)
    assert plan is not None
    pieces = plan_pieces(update, plan)
    assert len(pieces) > 1

    rebuilt = apply_checked(pieces)

    whole = Doc()
    whole.apply_update(update)
    assert_same_document(rebuilt, whole, roots)
    assert_same_document(rebuilt, source, roots)
    if piece_bytes > 1:
        # Struct bytes per piece stay within the budget (one struct may exceed it alone).
        overhead = sum(map(len, pieces)) - len(update)
        assert overhead < 40 * len(pieces)


def test_pieces_of_a_large_document_stay_near_the_budget():
    source = items_at_front(20_000)
    update = source.get_update()
    plan = split_plan(update)

    pieces = plan_pieces(update, plan)

    assert len(update) > 4 * PIECE_BYTES
    assert all(len(piece) <= PIECE_BYTES + 64 for piece in pieces)
    assert len(pieces) <= len(update) // PIECE_BYTES + 2
    # Each piece's header costs a few bytes: the whole stays as small as the GC'd update.
    assert sum(map(len, pieces)) - len(update) < 20 * len(pieces)
    rebuilt = apply_checked(pieces)
    assert str(rebuilt.get("text", type=Text)) == str(source.get("text", type=Text))


def test_updates_that_are_small_or_not_understood_get_no_plan():
    small = items_at_front(10).get_update()
    assert split_plan(small) is None
    big = items_at_front(200).get_update()
    assert split_plan(big, piece_bytes=100) is not None
    # Trailing bytes, a truncated update: no plan rather than a guess.
    assert split_plan(big + b"\x00", piece_bytes=100) is None
    assert split_plan(big[:-7], piece_bytes=100) is None
    # A merge of updates with a gap between them holds a Skip struct.
    doc = Doc(client_id=7)
    text = doc.get("text", type=Text)
    updates = []
    for i in range(30):
        before = doc.get_state()
        text.insert(len(text), f"word {i} ")
        updates.append(doc.get_update(before))
    gapped = merge_updates(updates[0], *updates[2:])
    assert split_plan(gapped, piece_bytes=10) is None


# ------------------------------------------------------------------------------- the store


@pytest.fixture
def document(ann):
    return services.document_create(owner=ann, title="Large")


def append(document, *updates: bytes) -> None:
    store.updates_append(
        document_id=document.pk,
        updates=[store.PendingUpdate(u, None, document.created_at) for u in updates],
    )


def big_update() -> tuple[bytes, str]:
    doc = items_at_front(3 * PIECE_BYTES // 20)
    return doc.get_update(), str(doc.get("text", type=Text))


@pytest.mark.django_db
def test_compaction_writes_a_plan_and_loading_follows_it(document):
    update, content = big_update()
    append(document, update)

    assert store.snapshot_compact(document_id=document.pk, min_tail=1) == 1

    snapshot = DocumentSnapshot.objects.get(document=document)
    assert len(snapshot.pieces["pieces"]) >= 3
    # The data is still the whole state, usable without the plan.
    alone = Doc()
    alone.apply_update(bytes(snapshot.data))
    assert str(alone.get("text", type=Text)) == content
    state = store.state_load(document_id=document.pk)
    assert not state.applies_whole
    planned = Doc()
    assert store._apply_planned(planned, state.snapshot, state.snapshot_plan)
    assert str(planned.get("text", type=Text)) == content
    doc, seq = store.doc_load(document_id=document.pk)
    assert (seq, str(doc.get("text", type=Text))) == (1, content)


@pytest.mark.django_db
def test_small_snapshots_are_applied_whole(document):
    append(document, items_at_front(20).get_update())
    store.snapshot_compact(document_id=document.pk, min_tail=1)
    assert DocumentSnapshot.objects.get(document=document).pieces == {"pieces": []}
    assert not store.state_load(document_id=document.pk).applies_whole


@pytest.mark.django_db
def test_a_plan_that_does_not_fit_its_snapshot_falls_back_to_the_whole(document, caplog):
    update, content = big_update()
    append(document, update)
    store.snapshot_compact(document_id=document.pk, min_tail=1)
    snapshot = DocumentSnapshot.objects.get(document=document)
    good = snapshot.pieces

    # A span cut one byte off (decodes as garbage or not at all) and a plan whose pieces
    # apply but leave out a piece (structs wait for it: the state vector says so).
    shifted = {**good, "pieces": [[[c, k, n, s + 1, e] for c, k, n, s, e in good["pieces"][0]]]}
    shifted["pieces"] += good["pieces"][1:]
    dropped = {**good, "pieces": good["pieces"][:1] + good["pieces"][2:]}
    for bad in (shifted, dropped):
        DocumentSnapshot.objects.filter(pk=snapshot.pk).update(pieces=bad)
        doc, _ = store.doc_load(document_id=document.pk)
        assert str(doc.get("text", type=Text)) == content
    assert "piece plan" in caplog.text


@pytest.mark.django_db
def test_prepare_plans_a_large_row_and_an_old_snapshot(document):
    update, content = big_update()
    append(document, update)
    # One large row and no snapshot: loading applies it whole, once.
    assert store.state_load(document_id=document.pk).applies_whole
    _, _, whole = store.doc_open(document_id=document.pk)
    assert whole

    assert store.snapshot_prepare(document_id=document.pk)

    assert not store.state_load(document_id=document.pk).applies_whole
    assert not store.snapshot_prepare(document_id=document.pk)
    # A snapshot written before plans existed gets one.
    DocumentSnapshot.objects.filter(document=document).update(pieces=None)
    assert store.state_load(document_id=document.pk).applies_whole
    assert store.snapshot_prepare(document_id=document.pk)
    state = store.state_load(document_id=document.pk)
    assert not state.applies_whole
    assert len(state.snapshot_plan["pieces"]) >= 3
    doc, seq, whole = store.doc_open(document_id=document.pk)
    assert (seq, whole, str(doc.get("text", type=Text))) == (1, False, content)


@pytest.mark.django_db
def test_versions_below_and_above_a_planned_snapshot(document):
    from collab import history

    first, _ = big_update()
    append(document, first)
    store.snapshot_compact(document_id=document.pk, min_tail=1)
    doc = Doc()
    doc.apply_update(first)
    text = doc.get("text", type=Text)
    before = doc.get_state()
    text.insert(0, "newest ")
    append(document, doc.get_update(before))

    oldest = history.version_doc(document=document, seq=1).get("text", type=Text)
    assert str(oldest) == str(text)[len("newest ") :]
    latest = history.version_doc(document=document, seq=2).get("text", type=Text)
    assert str(latest) == str(text)
