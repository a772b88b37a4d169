"""redact_url: what may reach a log line, a span or an error message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eemw._redact import REDACTED, redact_url

SECRET = "s3cr3t-VALUE"
BASE = "https://earthengine.googleapis.com/v1/projects/demo/operations"


@pytest.mark.parametrize(
    "url",
    [
        BASE,
        f"{BASE}/X:cancel",
        "http://127.0.0.1:8080/v1/projects/demo/operations/X",
        "",
        "not a url",
    ],
)
def test_urls_without_query_or_credentials_are_untouched(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://user:{SECRET}@example.com/p", "https://REDACTED:REDACTED@example.com/p"),
        (f"https://{SECRET}@example.com/p", "https://REDACTED:REDACTED@example.com/p"),
        (f"https://user:{SECRET}@example.com:8443/p?a=1",
         "https://REDACTED:REDACTED@example.com:8443/p?a=1"),
    ],
)
def test_userinfo_is_redacted(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "key",
    ["access_token", "token", "key", "api_key", "sig", "signature", "X-Goog-Signature",
     "X-Goog-Credential", "AWSAccessKeyId", "client_secret", "refresh_token", "assertion",
     "code", "ACCESS_TOKEN", "access%5Ftoken"],
)
def test_credential_query_values_are_redacted(key: str) -> None:
    url = f"{BASE}?pageSize=10&{key}={SECRET}&filter=x"
    redacted = redact_url(url)
    assert SECRET not in redacted
    assert redacted == f"{BASE}?pageSize=10&{key}={REDACTED}&filter=x"


def test_other_parameters_are_kept_exactly() -> None:
    query = "filter=state%20%3D%20%22RUNNING%22&pageSize=50&pageToken=abc%2Fdef&flag&empty="
    url = f"{BASE}?{query}&key={SECRET}"
    assert redact_url(url) == f"{BASE}?{query}&key={REDACTED}"


def test_repeated_secret_keys_are_all_redacted() -> None:
    url = f"{BASE}?token={SECRET}&token={SECRET}2"
    assert redact_url(url) == f"{BASE}?token={REDACTED}&token={REDACTED}"


def test_fragment_tokens_are_redacted() -> None:
    url = f"https://example.com/cb#access_token={SECRET}&state=xyz"
    assert redact_url(url) == f"https://example.com/cb#access_token={REDACTED}&state=xyz"


def test_userinfo_and_query_together() -> None:
    url = f"https://u:{SECRET}@example.com/p?token={SECRET}&a=b"
    assert redact_url(url) == f"https://REDACTED:REDACTED@example.com/p?token={REDACTED}&a=b"


def test_at_sign_in_path_or_query_is_not_userinfo() -> None:
    url = "https://example.com/users/me@example.com?email=a@b.c"
    assert redact_url(url) == url


@pytest.mark.parametrize("url", ["http://[::1/x?key=abc", f"http://[bad@host/?token={SECRET}"])
def test_unparsable_urls_never_raise_and_leak_nothing(url: str) -> None:
    redacted = redact_url(url)
    assert SECRET not in redacted
    assert "abc" not in redacted


_SECRET_KEYS = st.sampled_from(["access_token", "token", "key", "sig", "code", "Signature"])
_SAFE_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x30, max_codepoint=0x7A, exclude_characters="=&?#@"),
    min_size=1, max_size=8,
)


@given(
    before=st.lists(st.tuples(_SAFE_TEXT, _SAFE_TEXT), max_size=3),
    key=_SECRET_KEYS,
    value=st.text(alphabet="abcdefXYZ0123456789-._~", min_size=12, max_size=20),
)
def test_secret_value_never_survives(
    before: list[tuple[str, str]], key: str, value: str
) -> None:
    params = [f"{k}={v}" for k, v in before] + [f"{key}={value}"]
    url = f"{BASE}?{'&'.join(params)}"
    redacted = redact_url(url)
    assert value not in redacted
    assert redacted.endswith(f"{key}={REDACTED}")


# --- log filters ---------------------------------------------------------------------------

_IMPORT_EVERYTHING = """
import importlib, json, logging, pkgutil
import eemw

for module in pkgutil.walk_packages(eemw.__path__, "eemw."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
watched = ["urllib3.connectionpool", "google.auth.transport.requests", "urllib3", "google", ""]

def filters():
    return {name: len(logging.getLogger(name).filters) for name in watched}

print(json.dumps(filters()))
from google.auth.credentials import AnonymousCredentials
for _ in range(2):
    eemw.Client("demo", credentials=AnonymousCredentials()).close()
print(json.dumps(filters()))
seen = []
handler = logging.Handler()
handler.emit = lambda record: seen.append(record.getMessage())
pool = logging.getLogger("urllib3.connectionpool")
pool.addHandler(handler)
pool.setLevel(logging.DEBUG)
pool.debug('%s://%s:%s "%s %s %s" %s %s', "https", "example.com", 443, "GET",
           "/v1/x?access_token=SECRET-VALUE&a=1", "HTTP/1.1", 200, 2)
print(json.dumps(seen))
"""


def test_importing_eemw_changes_no_logger_and_a_client_installs_the_filters_once() -> None:
    # Logging belongs to the application: only building a client may add eemw's filters.
    import json
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-c", _IMPORT_EVERYTHING], capture_output=True,
                         text=True, timeout=120, check=True)
    on_import, with_clients, logged = (json.loads(line) for line in ran.stdout.splitlines())
    assert on_import == dict.fromkeys(on_import, 0)
    assert with_clients == {**on_import, "urllib3.connectionpool": 1,
                            "google.auth.transport.requests": 1}
    assert logged == [
        'https://example.com:443 "GET /v1/x?access_token=REDACTED&a=1 HTTP/1.1" 200 2'
    ]
