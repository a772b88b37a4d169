"""Header values supplied by callers (property-based): no header injection, ever.

Idempotency keys, the quota project and user agent additions end up in request headers.
A value with CR, LF or any other control character would let a caller (or whoever
controls the caller's input) add headers or split the request, so it is refused with
:class:`eemw.InvalidHeaderError` before any I/O. A value that is accepted is sent exactly
as given, and every header of every request the transport sees is printable ASCII. The
list filter, which goes into the query string, is held to the same rule (as a
:class:`eemw.UsageError`) and is percent-encoded when sent.
"""

from __future__ import annotations

import unicodedata

import pytest
from google.auth.credentials import AnonymousCredentials
from hypothesis import example, given, settings
from hypothesis import strategies as st

import eemw
from eemw.testing import MockTransport, respond

# Text that is mostly harmless, with the characters that matter mixed in.
_NASTY = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\t", "\x0b", "\x1b", "\x7f", "\x85",
                          "\u2028", "\u2029", "\ufeff", "\u00e9", " ", ":", ";", ","])
VALUES = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.from_regex(r"[ -~]{0,6}", fullmatch=True), _NASTY), max_size=6)
    .map("".join),
)


def has_control(value: str) -> bool:
    """CR, LF and every other control, line or paragraph separator character."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


def answer(request: eemw.Request) -> eemw.Response:
    if request.call.kind in ("cancel", "delete"):
        return respond(request, json={})
    return respond(request, json={"name": request.call.name, "done": True})


def assert_headers_printable(transport: MockTransport) -> None:
    for request in transport.requests:
        for name, value in request.headers.items():
            assert all(" " <= c <= "~" for c in name + value), (name, value)


@pytest.mark.parametrize("method", ["cancel", "delete"])
@settings(max_examples=150, deadline=2000)
@given(key=VALUES)
@example(key="abc\r\nX-Injected: 1")
@example(key="k" * 256)
def test_idempotency_key_is_refused_before_io_or_sent_verbatim(method: str, key: str) -> None:
    transport = MockTransport(answer)
    client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials())
    try:
        getattr(client.operations, method)("op-1", idempotency_key=key)
    except eemw.InvalidHeaderError:
        assert transport.requests == []
        return
    assert not has_control(key)
    (request,) = transport.requests
    assert request.headers["Idempotency-Key"] == key
    assert_headers_printable(transport)


@pytest.mark.parametrize("option", ["quota_project", "user_agent"])
@settings(max_examples=150, deadline=2000)
@given(value=VALUES)
@example(value="my-project\r\nAuthorization: Bearer stolen")
@example(value="agent/1.0\n")
def test_client_header_options_are_refused_before_io_or_sent_verbatim(
    option: str, value: str
) -> None:
    transport = MockTransport(answer)
    try:
        client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials(),
                             **{option: value})  # type: ignore[arg-type]
    except eemw.InvalidHeaderError:
        assert transport.requests == []
        return
    client.operations.get("op-1")
    assert not has_control(value)
    (request,) = transport.requests
    if option == "quota_project":
        # An empty quota project means "the default" (the client's project).
        assert request.headers["X-Goog-User-Project"] == (value or "demo")
    else:
        assert request.headers["User-Agent"].startswith(f"{value} eemw/" if value else "eemw/")
    assert_headers_printable(transport)


@settings(max_examples=100, deadline=2000)
@given(text=VALUES)
@example(text="state=RUNNING\r\nHost: evil.com")
def test_list_filter_is_refused_before_io_or_stays_inside_the_query(text: str) -> None:
    transport = MockTransport(lambda request: respond(request, json={}))
    client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials())
    try:
        list(client.operations.list(filter=text))
    except eemw.UsageError:  # a query parameter, not a header: any typed usage error
        assert transport.requests == []
        return
    assert not has_control(text)
    (request,) = transport.requests
    assert all("!" <= c <= "~" for c in request.url), request.url


def test_a_hostile_idempotency_header_name_is_refused_at_construction() -> None:
    transport = MockTransport(answer)
    with pytest.raises(eemw.UsageError):
        eemw.Client("demo", transport=transport, credentials=AnonymousCredentials(),
                    idempotency_header="Idempotency-Key\r\nX-Injected")
    assert transport.requests == []
