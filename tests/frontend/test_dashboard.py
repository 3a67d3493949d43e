"""The dashboard: lists, search, create, rename, delete to the trash and restore, with htmx
partials for htmx requests and whole pages (working without JavaScript) otherwise."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from collab import selectors, services
from collab.models import Document, DocumentKind, Membership

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="doc-([0-9a-f-]{36})"', html)


def is_partial(response) -> bool:
    return b"<html" not in response.content


@pytest.fixture
def carl(make_user):
    return make_user("carl@example.com", display_name="Carl")


@pytest.fixture
def docs(ann, bob, carl):
    """Ann's plan (Bob edits, Carl views), Bob's notes shared with Ann, Bob's private diary."""
    plan = services.document_create(owner=ann, title="Ann's plan")
    Membership.objects.create(document=plan, user=bob, role="editor")
    Membership.objects.create(document=plan, user=carl, role="viewer")
    notes = services.document_create(owner=bob, title="Bob's notes", kind="whiteboard")
    Membership.objects.create(document=notes, user=ann, role="viewer")
    diary = services.document_create(owner=bob, title="Diary")
    return {"plan": plan, "notes": notes, "diary": diary}


# Listing


def test_dashboard_lists_mine_and_shared_with_me_not_others(ann, docs):
    response = logged_in(ann).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert set(row_ids(html)) == {str(docs["plan"].pk), str(docs["notes"].pk)}
    assert "Diary" not in html
    assert '<div id="documents" data-live-url="/ws/me">' in html
    assert f'data-document-id="{docs["notes"].pk}"' in html
    # Kind, owner and my role on each row.
    notes_row = re.search(rf'<tr id="doc-{docs["notes"].pk}".*?</tr>', html, re.S).group(0)
    assert "Whiteboard" in notes_row
    assert ">Bob<" in notes_row
    assert ">viewer<" in notes_row
    assert f'href="/documents/{docs["notes"].pk}/"' in notes_row
    # The live dashboard's hooks: the row template and the notification area.
    assert 'id="document-row-template"' in html
    assert '<div id="notifications" aria-live="polite"></div>' in html


def test_last_edited_shows_who_and_when(ann, bob, docs):
    plan = docs["plan"]
    Document.objects.filter(pk=plan.pk).update(
        last_edited_at=timezone.now() - timedelta(minutes=5), last_edited_by=bob
    )
    Document.objects.filter(pk=docs["notes"].pk).update(
        last_edited_at=timezone.now() - timedelta(hours=2), last_edited_by=ann
    )

    html = logged_in(ann).get("/").content.decode()

    plan_row = re.search(rf'<tr id="doc-{plan.pk}".*?</tr>', html, re.S).group(0)
    assert re.search(r"5\xa0minutes ago</time> by Bob", plan_row)
    notes_row = re.search(rf'<tr id="doc-{docs["notes"].pk}".*?</tr>', html, re.S).group(0)
    assert re.search(r"2\xa0hours ago</time> by you", notes_row)


def test_filters_owned_by_me_and_shared_with_me(ann, docs):
    client = logged_in(ann)

    mine = client.get("/?show=mine").content.decode()
    shared = client.get("/?show=shared").content.decode()
    bogus = client.get("/?show=everything").content.decode()

    assert row_ids(mine) == [str(docs["plan"].pk)]
    assert row_ids(shared) == [str(docs["notes"].pk)]
    assert len(row_ids(bogus)) == 2


def test_search_by_title_without_javascript(ann, docs):
    response = logged_in(ann).get("/", {"q": "NOTES"})

    assert not is_partial(response)
    html = response.content.decode()
    assert row_ids(html) == [str(docs["notes"].pk)]
    assert 'value="NOTES"' in html


def test_search_with_htmx_returns_the_list_partial(ann, docs):
    response = logged_in(ann).get("/", {"q": "plan"}, **HTMX)

    assert response.status_code == 200
    assert is_partial(response)
    html = response.content.decode()
    assert 'id="document-list"' in html
    assert row_ids(html) == [str(docs["plan"].pk)]
    assert "HX-Request" in response["Vary"]


def test_search_input_is_wired_for_htmx(ann, docs):
    html = logged_in(ann).get("/").content.decode()
    search = re.search(r'<input type="search".*?>', html, re.S).group(0)
    assert 'hx-get="/"' in search
    assert 'hx-trigger="input changed delay:300ms, search"' in search
    assert 'hx-target="#document-list"' in search


def test_search_without_match_says_so(ann, docs):
    html = logged_in(ann).get("/", {"q": "zzz"}).content.decode()
    assert row_ids(html) == []
    assert "No documents match “zzz”." in html


def test_history_restore_request_gets_the_whole_page(ann, docs):
    response = logged_in(ann).get("/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert not is_partial(response)


# Create


@pytest.mark.parametrize("kind", [DocumentKind.TEXT, DocumentKind.WHITEBOARD])
def test_create_with_htmx_opens_the_new_document(ann, kind):
    response = logged_in(ann).post("/documents/new/", {"title": "Fresh", "kind": kind}, **HTMX)

    assert response.status_code == 201
    document = Document.objects.get()
    assert (document.title, document.kind, document.owner) == ("Fresh", kind, ann)
    assert response["HX-Redirect"] == f"/documents/{document.pk}/"


@pytest.mark.parametrize("kind", [DocumentKind.TEXT, DocumentKind.WHITEBOARD])
def test_create_without_javascript_opens_the_document(ann, kind):
    response = logged_in(ann).post("/documents/new/", {"title": "Fresh", "kind": kind})

    document = Document.objects.get()
    assert document.kind == kind
    assert response.status_code == 302
    assert response.url == f"/documents/{document.pk}/"


def test_create_error_with_htmx_reshows_the_form(ann):
    response = logged_in(ann).post("/documents/new/", {"title": " "}, **HTMX)

    assert response.status_code == 422
    assert response["HX-Retarget"] == "#create-form"
    assert is_partial(response)
    assert "A title is required." in response.content.decode()
    assert not Document.objects.exists()


# Rename


def test_rename_link_has_a_fallback_and_an_htmx_form(ann, bob, docs):
    plan = docs["plan"]
    client = logged_in(bob)

    page = client.get(f"/documents/{plan.pk}/rename/")
    partial = client.get(f"/documents/{plan.pk}/rename/", **HTMX)

    assert page.status_code == partial.status_code == 200
    assert not is_partial(page)
    assert is_partial(partial)
    assert f'action="/documents/{plan.pk}/title/"' in page.content.decode()
    assert f'<tr id="doc-{plan.pk}"' in partial.content.decode()
    row = client.get("/").content.decode()
    assert f'href="/documents/{plan.pk}/rename/"' in row


def test_editor_renames_inline_with_htmx(bob, docs):
    plan = docs["plan"]

    response = logged_in(bob).post(f"/documents/{plan.pk}/title/", {"title": " Q3 "}, **HTMX)

    assert response.status_code == 200
    assert is_partial(response)
    assert row_ids(response.content.decode()) == [str(plan.pk)]
    assert ">Q3</a>" in response.content.decode()
    plan.refresh_from_db()
    assert plan.title == "Q3"


def test_rename_without_javascript_redirects_to_the_dashboard(ann, docs):
    plan = docs["plan"]
    client = logged_in(ann)

    response = client.post(f"/documents/{plan.pk}/title/", {"title": "Q4"})

    assert response.status_code == 302
    assert response.url == "/"
    assert "Renamed to “Q4”." in client.get("/").content.decode()


def test_viewer_cannot_rename(carl, docs):
    plan = docs["plan"]
    client = logged_in(carl)

    assert client.get(f"/documents/{plan.pk}/rename/").status_code == 403
    assert client.post(f"/documents/{plan.pk}/title/", {"title": "Mine"}).status_code == 403
    plan.refresh_from_db()
    assert plan.title == "Ann's plan"
    # No rename link on a viewer's row.
    assert f"/documents/{plan.pk}/rename/" not in client.get("/").content.decode()


def test_non_member_rename_is_404(make_user, docs):
    stranger = logged_in(make_user("sam@example.com"))
    response = stranger.post(f"/documents/{docs['plan'].pk}/title/", {"title": "x"})
    assert response.status_code == 404


def test_rename_with_an_empty_title_shows_the_error(ann, docs):
    plan = docs["plan"]
    client = logged_in(ann)

    htmx = client.post(f"/documents/{plan.pk}/title/", {"title": ""}, **HTMX)
    plain = client.post(f"/documents/{plan.pk}/title/", {"title": ""})

    assert htmx.status_code == 422
    assert is_partial(htmx)
    assert plain.status_code == 400
    assert not is_partial(plain)
    assert "1 to 200 characters" in htmx.content.decode()
    plan.refresh_from_db()
    assert plan.title == "Ann's plan"


def test_cancel_rename_gets_the_row_back(ann, docs):
    plan = docs["plan"]
    client = logged_in(ann)

    response = client.get(f"/documents/{plan.pk}/row/", **HTMX)

    assert row_ids(response.content.decode()) == [str(plan.pk)]
    assert client.get(f"/documents/{plan.pk}/row/").status_code == 302


# Delete, trash, restore


def test_delete_has_a_confirmation_page_and_hx_confirm(ann, docs):
    plan = docs["plan"]
    client = logged_in(ann)

    row = re.search(rf'<tr id="doc-{plan.pk}".*?</tr>', client.get("/").content.decode(), re.S)
    delete_link = re.search(r"<a [^>]*>Delete</a>", row.group(0), re.S).group(0)
    assert f'href="/documents/{plan.pk}/delete/"' in delete_link
    assert f'hx-post="/documents/{plan.pk}/trash/"' in delete_link
    assert "hx-confirm=" in delete_link

    confirm = client.get(f"/documents/{plan.pk}/delete/")
    assert confirm.status_code == 200
    assert f'action="/documents/{plan.pk}/trash/"' in confirm.content.decode()
    # Asking is not deleting.
    assert Document.objects.get(pk=plan.pk).deleted_at is None


@pytest.mark.parametrize("who", ["bob", "carl"])
def test_only_owners_delete(docs, who, request):
    plan = docs["plan"]
    client = logged_in(request.getfixturevalue(who))

    assert client.get(f"/documents/{plan.pk}/delete/").status_code == 403
    assert client.post(f"/documents/{plan.pk}/trash/").status_code == 403
    assert Document.objects.get(pk=plan.pk).deleted_at is None


def test_delete_confirm_then_trash_then_restore_without_javascript(ann, bob, docs):
    plan = docs["plan"]
    client = logged_in(ann)
    assert client.get(f"/documents/{plan.pk}/delete/").status_code == 200

    response = client.post(f"/documents/{plan.pk}/trash/")

    assert response.status_code == 302
    assert response.url == "/"
    assert Document.objects.get(pk=plan.pk).deleted_at is not None
    # Gone for everyone, and the document page is a 404 even for its owner.
    assert str(plan.pk) not in row_ids(client.get("/").content.decode())
    assert str(plan.pk) not in row_ids(logged_in(bob).get("/").content.decode())
    assert client.get(f"/documents/{plan.pk}/").status_code == 404
    assert logged_in(bob).get(f"/documents/{plan.pk}/").status_code == 404

    trash = client.get("/trash/").content.decode()
    assert "Ann&#x27;s plan" in trash
    assert f'action="/trash/{plan.pk}/restore/"' in trash
    # Bob, an editor, has no trash entry for it and cannot restore it.
    assert "Ann&#x27;s plan" not in logged_in(bob).get("/trash/").content.decode()
    assert logged_in(bob).post(f"/trash/{plan.pk}/restore/").status_code == 404

    restored = client.post(f"/trash/{plan.pk}/restore/")

    assert restored.status_code == 302
    assert restored.url == "/trash/"
    assert Document.objects.get(pk=plan.pk).deleted_at is None
    assert str(plan.pk) in row_ids(logged_in(bob).get("/").content.decode())
    assert client.get(f"/documents/{plan.pk}/").status_code == 200


def test_trash_with_htmx_removes_the_row_and_offers_undo(ann, docs):
    plan = docs["plan"]
    client = logged_in(ann)

    response = client.post(f"/documents/{plan.pk}/trash/", **HTMX)

    assert response.status_code == 200
    assert is_partial(response)
    html = response.content.decode()
    # Nothing but the out-of-band notice: the row (the target) is replaced by nothing.
    assert 'id="flash"' in html and 'hx-swap-oob="true"' in html
    assert row_ids(html) == []
    assert f'action="/trash/{plan.pk}/restore/"' in html
    assert 'name="next" value="dashboard"' in html

    undo = client.post(f"/trash/{plan.pk}/restore/", {"next": "dashboard"})
    assert undo.url == "/"
    assert Document.objects.get(pk=plan.pk).deleted_at is None


def test_restore_with_htmx_from_the_trash_page(ann, docs):
    plan = docs["plan"]
    services.document_trash(document=plan)
    client = logged_in(ann)

    page = client.get("/trash/")
    partial = client.get("/trash/", **HTMX)
    assert not is_partial(page) and is_partial(partial)

    response = client.post(f"/trash/{plan.pk}/restore/", **HTMX)

    assert response.status_code == 200
    assert is_partial(response)
    assert "restored" in response.content.decode()
    assert selectors.role_of(user=ann, document_id=plan.pk) == "owner"


def test_trash_lists_only_the_last_30_days(ann, docs):
    plan, notes = docs["plan"], docs["notes"]
    services.document_trash(document=plan)
    old = services.document_create(owner=ann, title="Ancient")
    services.document_trash(document=old)
    Document.objects.filter(pk=old.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    client = logged_in(ann)

    html = client.get("/trash/").content.decode()

    assert "Ann&#x27;s plan" in html
    assert "Ancient" not in html
    assert str(notes.pk) not in html
    assert client.post(f"/trash/{old.pk}/restore/").status_code == 404


def test_trash_says_how_long_is_left(ann, docs):
    plan = docs["plan"]
    services.document_trash(document=plan)
    client = logged_in(ann)
    assert "in 30 days" in client.get("/trash/").content.decode()

    Document.objects.filter(pk=plan.pk).update(deleted_at=timezone.now() - timedelta(days=25))
    assert "in 5 days" in client.get("/trash/").content.decode()


def test_empty_trash(ann):
    assert "The trash is empty." in logged_in(ann).get("/trash/").content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/trash/"),
        ("get", "/documents/{id}/rename/"),
        ("post", "/documents/{id}/title/"),
        ("get", "/documents/{id}/delete/"),
        ("post", "/documents/{id}/trash/"),
        ("post", "/trash/{id}/restore/"),
        ("get", "/documents/{id}/share/"),
    ],
)
def test_anonymous_is_sent_to_sign_in(client, docs, method, path):
    response = getattr(client, method)(path.format(id=docs["plan"].pk))
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_actions_need_their_method(ann, docs):
    client = logged_in(ann)
    plan = docs["plan"]
    assert client.get(f"/documents/{plan.pk}/trash/").status_code == 405
    assert client.get(f"/documents/{plan.pk}/title/").status_code == 405
    assert client.post(f"/documents/{plan.pk}/delete/").status_code == 405
    assert client.get(f"/trash/{plan.pk}/restore/").status_code == 405
