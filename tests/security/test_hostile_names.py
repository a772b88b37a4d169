"""Hostile operation names, end to end through the client (property-based).

Whatever string a caller passes as an operation name (or project), the client either
raises :class:`eemw.InvalidNameError` before any I/O, or sends requests only to the
configured host, inside ``/{version}/projects/{project}/operations`` of that name's own
project: no traversal, no encoded slash, no query or fragment smuggled in, no other host.
The unit tests of :class:`eemw.OperationName` cover the parser; these cover every method
that takes a name, as the transport sees its requests.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

import pytest
from google.auth.credentials import AnonymousCredentials
from hypothesis import example, given, settings
from hypothesis import strategies as st

import eemw
from eemw.testing import MockTransport, respond

ENDPOINT = "https://earthengine.googleapis.com"
SUFFIX = {"get": "", "delete": "", "cancel": ":cancel", "wait": ":wait"}

# Pieces near the edge of what is valid, so the search finds the boundaries quickly.
_PIECES = st.sampled_from([
    "", ".", "..", "/", "//", "%", "%2F", "%2e%2e", "?", "#", "@", ":", "-", "_", " ", "\t",
    "\r\n", "\x00", "\x7f", "\u0085", "\u2028", "\u0435", "\uff0f", "\\", "a", "Z", "0",
    "demo", "projects", "operations", "evil.com", "evil.com:443", "http://evil.com",
])
_PLAIN = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
_PART = st.lists(st.one_of(_PLAIN, _PIECES, st.text(max_size=3)), max_size=5).map("".join)
_FULL = st.builds(lambda p, i: f"projects/{p}/operations/{i}", _PART, _PART)
NAMES = st.one_of(st.text(), _PART, _FULL)
# Characters that change how a URL or a path is read: a name holding one is never sent.
_URL_SYNTAX = st.sampled_from(
    ["..", "/", "?", "#", "%", "\\", "@", " ", "\n", "\r", "\x00", "\t", "\u2028", "\uff0f"]
)


def answer(request: eemw.Request) -> eemw.Response:
    call = request.call
    if call.kind in ("cancel", "delete", "list"):
        return respond(request, json={})
    return respond(request, json={"name": call.name, "done": True})


def client_on_mock() -> tuple[eemw.Client, MockTransport]:
    transport = MockTransport(answer)
    return eemw.Client("demo", transport=transport, credentials=AnonymousCredentials()), transport


def intended(name: str) -> tuple[str, str]:
    """The project and id a caller means by ``name`` (a full name, or an id in ``demo``)."""
    if name.startswith("projects/"):
        _, project, _, op_id = name.split("/", 3)
        return project, op_id
    return "demo", name


def assert_on_endpoint(url: str, path: str) -> None:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == ENDPOINT
    assert parts.query == "" and parts.fragment == ""
    assert parts.path == path
    # Nothing a path normaliser or a percent-decoder does may move it somewhere else.
    assert posixpath.normpath(path) == path
    assert unquote(path) == path


@pytest.mark.parametrize("method", sorted(SUFFIX))
@settings(max_examples=150, deadline=2000)
@given(name=NAMES)
@example(name="projects/demo/operations/../../other/operations/x")
@example(name="projects/evil.com:443/operations/x")
@example(name="projects/demo/operations/x?alt=media#y")
@example(name="..%2F..%2Fv1%2Fprojects%2Fother")
@example(name="projects/other/operations/x")
def test_a_name_is_refused_before_io_or_confined_to_its_project(method: str, name: str) -> None:
    client, transport = client_on_mock()
    try:
        getattr(client.operations, method)(name)
    except eemw.InvalidNameError:
        assert transport.requests == []
        return
    project, op_id = intended(name)
    assert "/" not in project and "/" not in op_id
    assert transport.requests, "a valid name must reach the transport"
    for request in transport.requests:
        path = f"/v1/projects/{project}/operations/{op_id}{SUFFIX[method]}"
        assert_on_endpoint(request.url, path)


@pytest.mark.parametrize("method", sorted(SUFFIX))
@settings(max_examples=100, deadline=2000)
@given(head=_PART, bad=_URL_SYNTAX, tail=_PART, full=st.booleans())
def test_a_name_holding_url_syntax_is_refused_with_no_io(
    method: str, head: str, bad: str, tail: str, full: bool
) -> None:
    op_id = head + bad + tail
    client, transport = client_on_mock()
    with pytest.raises(eemw.InvalidNameError):
        getattr(client.operations, method)(f"projects/demo/operations/{op_id}" if full else op_id)
    assert transport.requests == []


@settings(max_examples=150, deadline=2000)
@given(project=NAMES)
@example(project="demo/operations/x/../..")
@example(project="..")
@example(project="evil.com:443")
def test_list_is_refused_before_io_or_confined_to_the_project(project: str) -> None:
    client, transport = client_on_mock()
    try:
        list(client.operations.list(project=project))
    except eemw.InvalidNameError:
        assert transport.requests == []
        return
    (request,) = transport.requests
    # An empty project means the client's own (as None does).
    assert_on_endpoint(request.url, f"/v1/projects/{project or 'demo'}/operations")


def test_cancel_many_checks_every_name_before_sending_any() -> None:
    client, transport = client_on_mock()
    with pytest.raises(eemw.InvalidNameError):
        client.operations.cancel_many(["op-1", "op-2", "../../other/operations/x", "op-3"])
    assert transport.requests == []
