"""The update guard: real pycrdt updates pass, malformed or deeply nested ones are refused."""

import gzip
import json
import random
import subprocess
import sys
import textwrap
import time

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.update_guard import DEFAULT_MAX_DEPTH, UpdateRejected, _scan, check_update

from ..shared_data import trace_path
from .child_stack import default_stack

TRACE = trace_path("automerge-paper.json.gz")
DEEP = 50_000  # pycrdt 0.14.13's apply_update overflows the stack from ~26k levels here


# --- building updates by hand (Yjs v1 encoding) ------------------------------------------


def var_uint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def var_string(s: bytes) -> bytes:
    return var_uint(len(s)) + s


def update(client: int, structs: list[bytes], clock: int = 0, delete_set: bytes = b"\x00") -> bytes:
    """One struct group for ``client`` starting at ``clock``, then the delete set."""
    return (
        var_uint(1)
        + var_uint(len(structs))
        + var_uint(client)
        + var_uint(clock)
        + b"".join(structs)
        + delete_set
    )


def root_item(ref: int, content: bytes, root: bytes = b"a", key: bytes | None = None) -> bytes:
    """An Item with no origins, in the root type ``root`` (under map key ``key``)."""
    info = ref | (0x20 if key is not None else 0)
    return (
        bytes([info])
        + var_uint(1)
        + var_string(root)
        + (var_string(key) if key is not None else b"")
        + content
    )


def child_item(ref: int, content: bytes, parent: tuple[int, int], key: bytes = b"k") -> bytes:
    """An Item with no origins whose parent is the type item ``parent`` = (client, clock)."""
    return (
        bytes([ref | 0x20])
        + var_uint(0)
        + var_uint(parent[0])
        + var_uint(parent[1])
        + var_string(key)
        + content
    )


def deep_any_update(depth: int) -> bytes:
    """A root Array holding one Any value: ``depth`` arrays nested in each other."""
    value = b"\x75\x01" * (depth - 1) + b"\x75\x00"
    return update(7, [root_item(8, var_uint(1) + value)])


def rejected(payload, **kwargs) -> UpdateRejected:
    with pytest.raises(UpdateRejected) as info:
        check_update(payload, **kwargs)
    # the safety net in check_update must never be what answers
    assert not info.value.reason.startswith("internal"), info.value
    return info.value


def state_vector(encoded: bytes) -> dict[int, int]:
    pos = 0

    def read() -> int:
        nonlocal pos
        n = shift = 0
        while True:
            b = encoded[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n

    return {read(): read() for _ in range(read())}


# --- real updates from pycrdt --------------------------------------------------------------


def doc_text_inserts() -> Doc:
    doc = Doc()
    text = doc.get("t", type=Text)
    for i, word in enumerate(["hello", " wörld", " 😀", " naïve", " ok"]):
        # alternate appending and prepending so items get origins and right origins (pycrdt
        # indexes non-ASCII text its own way, and writes an empty string item here)
        text.insert(len(str(text)) if i % 2 else 0, word)
    return doc


def doc_deletes() -> Doc:
    doc = Doc()
    text = doc.get("t", type=Text)
    text += "the quick brown fox jumps over the lazy dog"
    del text[4:10]
    del text[0:1]
    text.insert(3, "🦊")
    del text[10:12]
    return doc


def doc_formatted_text() -> Doc:
    doc = Doc()
    text = doc.get("t", type=Text)
    text += "bold and a link"
    text.format(0, 4, {"bold": True})
    text.format(9, 15, {"link": {"href": "https://example.com", "rel": ["nofollow"]}})
    text.insert(4, "!", attrs={"italic": True, "color": None})
    text.insert_embed(2, {"image": {"src": "a.png", "size": [10, 20]}})
    return doc


def doc_xml() -> Doc:
    doc = Doc()
    fragment = doc.get("prosemirror", type=XmlFragment)
    fragment.children.append(
        XmlElement(
            "bulletList",
            {"tight": "true"},
            [
                XmlElement(
                    "listItem",
                    {},
                    [
                        XmlElement("paragraph", {"align": "left"}, [XmlText("first")]),
                        XmlElement(
                            "bulletList",
                            {},
                            [
                                XmlElement(
                                    "listItem", {}, [XmlElement("paragraph", {}, [XmlText("deep")])]
                                )
                            ],
                        ),
                    ],
                )
            ],
        )
    )
    fragment.children.append(XmlElement("heading", {"level": "2"}, [XmlText("title")]))
    paragraph = XmlElement("paragraph", {}, [XmlText("plain")])
    fragment.children.append(paragraph)
    paragraph.attributes["class"] = "note"
    return doc


def doc_nested_maps_and_arrays(depth: int = 20) -> Doc:
    doc = Doc()
    root = doc.get("m", type=Map)
    items = doc.get("a", type=Array)
    with doc.transaction():
        current = root
        for i in range(depth):
            child = Map()
            current[f"level{i}"] = child
            current = child
        current["leaf"] = [1, [2, [3, {"x": None, "y": True}]], 2.5, "s", b"\x00\xff", 2**40]
        current_array = items
        for _ in range(depth):
            current_array.append(0)  # so the next one is written with an origin
            child_array = Array()
            current_array.append(child_array)
            current_array = child_array
        current_array.extend([{"k": [1, 2]}, -7, 1.5e300, False])
    return doc


def doc_with_deletes_everywhere() -> Doc:
    doc = doc_nested_maps_and_arrays(5)
    root = doc.get("m", type=Map)
    items = doc.get("a", type=Array)
    text = doc.get("t", type=Text)
    text += "some text to delete from"
    del text[5:10]
    del root["level0"]  # deletes a whole subtree of types
    del items[0]
    root["replaced"] = "x"
    root["replaced"] = "y"
    return doc


REAL_DOCS = {
    "text inserts": doc_text_inserts,
    "deletes": doc_deletes,
    "formatted text": doc_formatted_text,
    "xml": doc_xml,
    "nested maps and arrays": doc_nested_maps_and_arrays,
    "deletes everywhere": doc_with_deletes_everywhere,
}


@pytest.fixture(scope="module")
def trace_doc() -> Doc:
    """automerge-paper's first 5000 patches typed into a Text, one transaction each."""
    trace = json.loads(gzip.decompress(TRACE.read_bytes()))
    patches = [patch for txn in trace["txns"] for patch in txn["patches"]][:5000]
    doc = Doc()
    text = doc.get("text", type=Text)
    for position, deleted, inserted in patches:
        with doc.transaction():
            if deleted:
                del text[position : position + deleted]
            if inserted:
                text.insert(position, inserted)
    return doc


@pytest.mark.parametrize("make_doc", REAL_DOCS.values(), ids=REAL_DOCS.keys())
def test_real_updates_pass(make_doc):
    doc = make_doc()
    full = doc.get_update()
    check_update(full)
    # the decoder's clocks agree with pycrdt's state vector, so it read every struct with
    # the right length (UTF-16 units for strings, counts for Any, ...)
    assert _scan(full, DEFAULT_MAX_DEPTH)["clocks"] == state_vector(doc.get_state())


def test_incremental_updates_pass():
    doc = Doc()
    seen = []
    doc.observe(lambda event: seen.append(event.update))
    text = doc.get("t", type=Text)
    text += "abc"
    text.insert(1, "😀", attrs={"bold": True})
    del text[0:2]
    doc.get("m", type=Map)["nested"] = Map({"inner": Array([1, {"a": [2]}])})
    assert len(seen) == 4
    for one in seen:
        check_update(one)


def test_state_update_with_delete_set():
    doc = doc_with_deletes_everywhere()
    summary = _scan(doc.get_update(), DEFAULT_MAX_DEPTH)
    assert summary["delete_ranges"] > 0


def test_trace_update_passes(trace_doc):
    full = trace_doc.get_update()
    check_update(full)
    summary = _scan(full, DEFAULT_MAX_DEPTH)
    assert summary["clocks"] == state_vector(trace_doc.get_state())
    assert summary["delete_ranges"] > 0


def test_trace_update_throughput(trace_doc, record_property):
    # Reported, never asserted: timing depends on the machine.
    full = trace_doc.get_update()
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        check_update(full)
    elapsed = (time.perf_counter() - started) / rounds
    record_property("check_update_mb_per_s", round(len(full) / elapsed / 1e6, 1))


def test_empty_update_passes():
    check_update(b"\x00\x00")
    check_update(Doc().get_update())


def test_bytearray_and_memoryview_are_accepted():
    payload = doc_text_inserts().get_update()
    check_update(bytearray(payload))
    check_update(memoryview(payload))


# --- deep nesting --------------------------------------------------------------------------


def test_deep_any_is_rejected_early():
    payload = deep_any_update(DEEP)
    assert len(payload) > 100_000
    error = rejected(payload)
    assert "nests deeper" in error.reason
    # it stops where the 128th level opens instead of walking 50k levels
    assert error.offset is not None and error.offset < 2 * DEFAULT_MAX_DEPTH + 20


def test_the_same_payload_crashes_pycrdt():
    # Proof the guard matters: pycrdt dies on this payload (native stack overflow, a
    # signal, not an exception), so it runs in a child process.
    payload = deep_any_update(DEEP)
    code = textwrap.dedent(
        """
        import sys
        from pycrdt import Doc
        payload = sys.stdin.buffer.read()
        try:
            Doc().apply_update(payload)
        except BaseException as exc:  # a Python-level error would be fine: exit 0
            print("raised", type(exc).__name__)
        print("survived")
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        input=payload,
        capture_output=True,
        timeout=120,
        preexec_fn=default_stack,
    )
    assert child.returncode != 0, child.stdout
    assert b"survived" not in child.stdout


@pytest.mark.parametrize("max_depth", [1, 2, 5, DEFAULT_MAX_DEPTH])
def test_any_depth_boundary(max_depth):
    # A root type counts 1, so a root item's value may nest max_depth - 1 levels.
    if max_depth > 1:
        check_update(deep_any_update(max_depth - 1), max_depth=max_depth)
    rejected(deep_any_update(max_depth), max_depth=max_depth)


def test_deep_any_objects_and_doc_options_are_rejected():
    deep_object = b"\x76\x01\x01k" * 200 + b"\x7e"
    rejected(update(7, [root_item(8, var_uint(1) + deep_object)]))
    check_update(update(7, [root_item(8, var_uint(1) + deep_object)]), max_depth=201)
    subdoc = var_string(b"guid") + deep_object
    rejected(update(7, [root_item(9, subdoc)]))
    check_update(update(7, [root_item(9, subdoc)]), max_depth=201)


def nested_dict(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("where", ["embed", "format"])
def test_deep_json_from_pycrdt(where):
    doc = Doc()
    text = doc.get("t", type=Text)
    text += "abc"
    if where == "embed":
        text.insert_embed(1, nested_dict(200))
    else:
        text.format(0, 2, {"attr": nested_dict(200)})
    payload = doc.get_update()
    assert "nests deeper" in rejected(payload).reason
    check_update(payload, max_depth=1000)


def test_deep_json_content_by_hand():
    deep = b"[" * 200 + b"]" * 200
    # ContentJSON: a count, then JSON strings ("undefined" allowed)
    payload = update(
        7,
        [
            root_item(
                2, var_uint(3) + var_string(b"undefined") + var_string(b"1") + var_string(deep)
            )
        ],
    )
    rejected(payload)
    check_update(payload, max_depth=201)
    # brackets inside string literals (escaped quotes included) do not count
    shallow = b'["[[[[\\"[[[[", {"k": "{{{{"}]'
    check_update(update(7, [root_item(2, var_uint(1) + var_string(shallow))]), max_depth=3)
    rejected(update(7, [root_item(2, var_uint(1) + var_string(shallow))]), max_depth=2)


@pytest.mark.parametrize("kind", ["maps", "arrays via origins", "xml elements"])
def test_deep_shared_types_from_pycrdt(kind):
    doc = Doc()
    with doc.transaction():
        if kind == "maps":
            current = doc.get("m", type=Map)
            for _ in range(200):
                child = Map()
                current["k"] = child
                current = child
        elif kind == "arrays via origins":
            current = doc.get("a", type=Array)
            for _ in range(200):
                current.append(0)  # the nested array's item is written with an origin
                child = Array()
                current.append(child)
                current = child
        else:
            current = doc.get("x", type=XmlFragment)
            for i in range(200):
                child = XmlElement("div", {"n": str(i)})
                current.children.append(child)
                current = child
    payload = doc.get_update()
    assert "shared types nest deeper" in rejected(payload).reason
    check_update(payload, max_depth=256)


def test_type_depth_boundary_and_values_inside_types():
    # Map items nested by explicit parent IDs: item i has clock i; item 0 sits in a root.
    def chain(n, leaf_value_depth=0):
        structs = [root_item(7, b"\x01", root=b"m", key=b"k")]
        for clock in range(1, n):
            structs.append(child_item(7, b"\x01", parent=(7, clock - 1)))
        if leaf_value_depth:
            value = b"\x75\x01" * (leaf_value_depth - 1) + b"\x75\x00"
            structs.append(child_item(8, var_uint(1) + value, parent=(7, n - 1)))
        return update(7, structs)

    # the root is depth 1, so n nested maps reach depth n + 1
    check_update(chain(9), max_depth=10)
    rejected(chain(10), max_depth=10)
    # a value in the innermost map adds its own nesting to the map's depth
    check_update(chain(5, leaf_value_depth=4), max_depth=10)
    rejected(chain(5, leaf_value_depth=5), max_depth=10)


def test_parent_later_in_the_update_is_resolved():
    # client 9's group comes first but nests under client 8's map, which comes later
    first = var_uint(1) + var_uint(9) + var_uint(0) + child_item(7, b"\x01", parent=(8, 0))
    outer_structs = [root_item(7, b"\x01", root=b"m", key=b"k")] + [
        child_item(7, b"\x01", parent=(8, clock - 1)) for clock in range(1, 5)
    ]
    second = var_uint(len(outer_structs)) + var_uint(8) + var_uint(0) + b"".join(outer_structs)
    payload = var_uint(2) + first + second + b"\x00"
    # root 1, client 8's maps 2..6, client 9's map 3
    check_update(payload, max_depth=6)
    rejected(payload, max_depth=5)


def test_parent_outside_the_update_counts_as_depth_one():
    # The documented limitation: the guard cannot see the document, so a parent it does
    # not know is treated like a root type.
    payload = update(7, [child_item(7, b"\x01", parent=(99, 0))])
    check_update(payload, max_depth=2)
    rejected(payload, max_depth=1)


def test_origin_cycle_is_rejected():
    # item (7, 0) has its origin at (7, 1) and (7, 1) its origin at (7, 0)
    map_item_with_origin = bytes([0x80 | 7]) + var_uint(7) + var_uint(1) + b"\x01"
    other = bytes([0x80 | 7]) + var_uint(7) + var_uint(0) + b"\x01"
    nested = child_item(7, b"\x01", parent=(7, 0))
    assert "cycle" in rejected(update(7, [map_item_with_origin, other, nested])).reason


# --- malformed input ---------------------------------------------------------------------


MALFORMED = {
    "empty": b"",
    "no delete set": b"\x00",
    "trailing garbage": b"\x00\x00\x00",
    "unterminated varuint": b"\x80",
    "varuint too long": b"\xff" * 9 + b"\x01\x00",
    "absurd group count": var_uint(2**40) + b"\x00",
    "absurd struct count": var_uint(1) + var_uint(10**6) + b"\x07\x00\x00",
    "unknown content ref": update(7, [bytes([11]) + b"\x01\x01a"]),
    "unknown any tag": update(7, [root_item(8, b"\x01\x50")]),
    "absurd any array length": update(7, [root_item(8, b"\x01\x75" + var_uint(2**33))]),
    "string longer than the rest": update(7, [root_item(4, var_uint(1000) + b"abc")]),
    "invalid utf-8": update(7, [root_item(4, var_string(b"\xff\xfe"))]),
    "surrogate in utf-8": update(7, [root_item(4, var_string(b"\xed\xa0\x80"))]),
    "xml hook type": update(7, [root_item(7, b"\x05" + var_string(b"hook"))]),
    "unknown type ref": update(7, [root_item(7, b"\x07")]),
    "multi-byte type ref": update(7, [root_item(7, b"\x81\x00")]),
    "parent info 2": update(7, [b"\x04\x02" + var_string(b"a") + var_string(b"x")]),
    "clock beyond u32": update(7, [b"\x00" + var_uint(10)], clock=2**32 - 5),
    "client beyond 2**53": update(2**60, [b"\x00\x01"]),
    "two groups for one client": var_uint(2) + (b"\x01\x07\x00\x00\x01") * 2 + b"\x00",
    "truncated float64": update(7, [root_item(8, b"\x01\x7b\x00\x00")]),
    "varint too long in any": update(7, [root_item(8, b"\x01\x7d" + b"\xff" * 9 + b"\x01")]),
    "delete range beyond u32": var_uint(0)
    + var_uint(1)
    + var_uint(7)
    + var_uint(1)
    + var_uint(2**32 - 1)
    + var_uint(5),
    "absurd delete range count": var_uint(0) + var_uint(1) + var_uint(7) + var_uint(10**9),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_updates_are_rejected(payload):
    rejected(payload)


@pytest.mark.parametrize("payload", ["\x00\x00", None, 0, [0, 0]])
def test_non_bytes_are_rejected(payload):
    rejected(payload)


def test_invalid_max_depth_is_a_programming_error():
    with pytest.raises(ValueError) as info:
        check_update(b"\x00\x00", max_depth=0)
    assert not isinstance(info.value, UpdateRejected)


def test_every_truncation_is_rejected():
    # The decoder is a streaming parser that must consume every byte, and decoding a prefix
    # reads exactly what decoding the whole reads until the bytes run out; so no strict
    # prefix of a valid update can itself pass, and each one must be refused (cleanly).
    for make_doc in (doc_with_deletes_everywhere, doc_xml, doc_formatted_text):
        payload = make_doc().get_update()
        check_update(payload)
        for end in range(len(payload)):
            rejected(payload[:end])


# --- fuzzing -------------------------------------------------------------------------------


def fuzz_seeds() -> list[bytes]:
    return [make().get_update() for make in REAL_DOCS.values()] + [
        deep_any_update(40),
        update(
            7, [root_item(2, var_uint(2) + var_string(b"undefined") + var_string(b'{"a":[1]}'))]
        ),
    ]


def outcome(payload: bytes) -> str:
    try:
        check_update(payload)
    except UpdateRejected as error:
        assert not error.reason.startswith("internal"), (error, payload.hex())
        return "rejected"
    return "passed"


def test_fuzz_random_bytes():
    rng = random.Random(20240521)
    results = {"passed": 0, "rejected": 0}
    for _ in range(3000):
        length = rng.choice([rng.randrange(8), rng.randrange(64), rng.randrange(512)])
        # small bytes are likelier to be sensible counts and tags
        alphabet = rng.choice(
            [range(256), range(16), [0, 1, 2, 4, 7, 8, 0x75, 0x76, 0x77, 0x80, 0xFF]]
        )
        payload = bytes(rng.choice(alphabet) for _ in range(length))
        results[outcome(payload)] += 1
    assert results["rejected"] > 0


def test_fuzz_mutated_valid_updates():
    rng = random.Random(1337)
    seeds = fuzz_seeds()
    results = {"passed": 0, "rejected": 0}
    for _ in range(4000):
        payload = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            mutation = rng.randrange(4)
            if mutation == 0:
                bit = rng.randrange(len(payload) * 8)
                payload[bit // 8] ^= 1 << (bit % 8)
            elif mutation == 1:
                payload[rng.randrange(len(payload))] = rng.randrange(256)
            elif mutation == 2 and len(payload) > 1:
                del payload[rng.randrange(len(payload))]
            else:
                payload.insert(rng.randrange(len(payload) + 1), rng.randrange(256))
        results[outcome(bytes(payload))] += 1
    # both branches are exercised: plenty of mutants are refused, some still decode
    assert results["rejected"] > 1000
    assert results["passed"] > 0
