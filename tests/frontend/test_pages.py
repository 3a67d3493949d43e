"""The minimal page set: welcome, my documents at /, create, and the document page."""

import re
import uuid
from html import unescape

import pytest
from django.test import Client

from collab import services
from collab.models import Document, Membership

pytestmark = pytest.mark.django_db

UUID_PATH = re.compile(r"^/documents/([0-9a-f-]{36})/$")


@pytest.fixture
def as_ann(client, ann):
    client.force_login(ann)
    return client


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def editor_attributes(html: str) -> dict[str, str]:
    match = re.search(r'<div id="editor"(.*?)>', html, re.S)
    assert match, "no #editor element"
    return {k: unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', match.group(1))}


def test_anonymous_home_is_the_welcome_page_with_sign_in_links(client):
    response = client.get("/")

    assert response.status_code == 200
    assert "frontend/welcome.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert 'href="/accounts/login/"' in html
    assert 'href="/accounts/signup/"' in html
    assert "My documents" not in html


def test_signed_in_home_lists_my_documents_only(as_ann, ann, bob):
    services.document_create(owner=ann, title="Ann's plan")
    shared = services.document_create(owner=bob, title="Bob shares this")
    Membership.objects.create(document=shared, user=ann, role="viewer")
    services.document_create(owner=bob, title="Bob's secret")

    response = as_ann.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "My documents" in html
    assert "Ann&#x27;s plan" in html
    assert "Bob shares this" in html
    assert "Bob&#x27;s secret" not in html
    assert f'href="/documents/{shared.pk}/"' in html
    roles = dict(response.context["documents"])
    assert {d.title: r for d, r in roles.items()} == {
        "Ann's plan": "owner",
        "Bob shares this": "viewer",
    }
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'action="/documents/new/"' in html


def test_signed_in_home_without_documents(as_ann):
    response = as_ann.get("/")
    assert "No documents yet" in response.content.decode()


def test_titles_are_escaped(as_ann, ann):
    services.document_create(owner=ann, title="<script>alert(1)</script>")
    html = as_ann.get("/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_create_redirects_to_the_new_document(as_ann, ann):
    response = as_ann.post("/documents/new/", {"title": " Minutes ", "kind": "text"})

    assert response.status_code == 302
    match = UUID_PATH.match(response.url)
    assert match, response.url
    document = Document.objects.get(pk=uuid.UUID(match.group(1)))
    assert (document.title, document.kind, document.owner) == ("Minutes", "text", ann)
    assert Membership.objects.get(document=document).role == "owner"
    assert as_ann.get(response.url).status_code == 200


def test_create_a_whiteboard(as_ann):
    as_ann.post("/documents/new/", {"title": "Sketch", "kind": "whiteboard"})
    assert Document.objects.get().kind == "whiteboard"


@pytest.mark.parametrize(
    ("data", "message"),
    [({"title": ""}, "A title is required."), ({"title": "T", "kind": "sheet"}, "kind must be")],
)
def test_create_with_bad_input_is_400_with_the_error_shown(as_ann, ann, data, message):
    services.document_create(owner=ann, title="Existing")

    response = as_ann.post("/documents/new/", data)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error"' in html
    assert message in html
    # The list is still there around the form.
    assert "Existing" in html
    assert Document.objects.count() == 1


def test_create_needs_post_and_a_session(as_ann):
    assert as_ann.get("/documents/new/").status_code == 405
    anonymous = Client()
    response = anonymous.post("/documents/new/", {"title": "X"})
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert Document.objects.count() == 0


def test_create_form_needs_csrf(ann):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)
    response = client.post("/documents/new/", {"title": "Forged"})
    assert response.status_code == 403
    assert not Document.objects.exists()


@pytest.mark.parametrize(("role", "can_edit"), [("owner", "true"), ("editor", "true")])
def test_document_page_for_writers(make_user, role, can_edit):
    owner = make_user("owner@example.com", display_name="Olive")
    document = services.document_create(owner=owner, title="Spec")
    user = owner
    if role != "owner":
        user = make_user("ed@example.com", display_name="Ed", cursor_color="#123abc")
        Membership.objects.create(document=document, user=user, role=role)

    response = logged_in(user).get(f"/documents/{document.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    attrs = editor_attributes(html)
    assert attrs["data-document-id"] == str(document.pk)
    assert attrs["data-can-edit"] == can_edit
    assert attrs["data-user-name"] == user.name
    assert attrs["data-user-color"] == user.cursor_color
    assert "data-ws-url" in attrs
    assert re.search(r'<h1 id="doc-title"[^>]*data-can-rename="true"[^>]*>Spec</h1>', html)
    assert f'href="/documents/{document.pk}/share/"' in html
    assert "frontend/editor.js" in html


def test_document_page_for_a_viewer_is_read_only(ann, bob):
    document = services.document_create(owner=ann, title="Spec")
    Membership.objects.create(document=document, user=bob, role="viewer")

    response = logged_in(bob).get(f"/documents/{document.pk}/")

    assert response.status_code == 200
    attrs = editor_attributes(response.content.decode())
    assert attrs["data-can-edit"] == "false"
    assert attrs["data-user-name"] == "Bob"
    assert "viewer" in response.content.decode()


def test_document_page_for_a_non_member_and_an_unknown_id_is_404(ann, bob):
    document = services.document_create(owner=ann, title="Private")
    client = logged_in(bob)

    theirs = client.get(f"/documents/{document.pk}/")
    unknown = client.get(f"/documents/{uuid.uuid4()}/")

    assert theirs.status_code == unknown.status_code == 404
    assert b"Private" not in theirs.content


def test_document_page_for_anonymous_redirects_to_login(client, ann):
    document = services.document_create(owner=ann, title="Private")
    url = f"/documents/{document.pk}/"

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={url}"


def test_removed_member_loses_the_page(ann, bob):
    document = services.document_create(owner=ann, title="Spec")
    Membership.objects.create(document=document, user=bob, role="editor")
    client = logged_in(bob)
    assert client.get(f"/documents/{document.pk}/").status_code == 200

    services.member_remove(document=document, user_id=bob.pk)

    assert client.get(f"/documents/{document.pk}/").status_code == 404
