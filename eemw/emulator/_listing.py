"""List filters, page sizes and opaque page tokens."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass

from ._operations import INITIAL_STATES, OpRecord, Phase
from ._wire import ApiError

DEFAULT_PAGE_SIZE = 50
_KNOWN_STATES = INITIAL_STATES | {"STATE_UNSPECIFIED"}
_SUPPORTED = (
    'supported clauses are done=true|false, metadata.state="STATE", metadata.type="TYPE", '
    "joined by AND"
)


@dataclass(frozen=True, slots=True)
class Filter:
    done: bool | None = None
    state: str | None = None
    type: str | None = None

    def matches(self, op: OpRecord, phase: Phase) -> bool:
        if self.done is not None and phase.done != self.done:
            return False
        if self.state is not None and phase.state != self.state:
            return False
        return self.type is None or op.type == self.type


MATCH_ALL = Filter()


def parse_filter(text: str) -> Filter:
    text = text.strip()
    if not text:
        return MATCH_ALL
    fields: dict[str, str] = {}
    for clause in text.split(" AND "):
        key, sep, value = clause.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("done", "metadata.state", "metadata.type") or key in fields:
            raise ApiError("INVALID_ARGUMENT", f"Unsupported filter {text!r}: {_SUPPORTED}.")
        fields[key] = value
    return Filter(
        done=_parse_done(fields.get("done"), text),
        state=_parse_state(fields.get("metadata.state"), text),
        type=_unquote(fields["metadata.type"], text) if "metadata.type" in fields else None,
    )


def _parse_done(value: str | None, text: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise ApiError("INVALID_ARGUMENT", f"Invalid filter {text!r}: done must be true or false.")
    return value == "true"


def _parse_state(value: str | None, text: str) -> str | None:
    if value is None:
        return None
    state = _unquote(value, text)
    if state not in _KNOWN_STATES:
        raise ApiError("INVALID_ARGUMENT", f"Invalid filter {text!r}: unknown state {state!r}.")
    return state


def _unquote(value: str, text: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or '"' in value:
        raise ApiError("INVALID_ARGUMENT", f"Invalid filter {text!r}: bad quoted value.")
    return value


def parse_page_size(raw: str | None, maximum: int) -> int:
    if raw is None or raw == "":
        return min(DEFAULT_PAGE_SIZE, maximum)
    try:
        size = int(raw)
    except ValueError:
        raise ApiError(
            "INVALID_ARGUMENT", f"Invalid pageSize {raw!r}: expected an integer."
        ) from None
    if size < 0:
        raise ApiError("INVALID_ARGUMENT", f"Invalid pageSize {size}: must not be negative.")
    return min(size or DEFAULT_PAGE_SIZE, maximum)


def _binding(project: str, filter_text: str) -> int:
    # A token only resumes the listing it came from, as the real API requires.
    return zlib.crc32(f"{project}\n{filter_text}".encode())


def encode_page_token(cursor: tuple[int, int], project: str, filter_text: str) -> str:
    raw = f"{cursor[0]}.{cursor[1]}.{_binding(project, filter_text)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, project: str, filter_text: str) -> tuple[int, int] | None:
    """The listing position a token resumes at; None (the first page) for no token."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, seq, bound = (int(part) for part in raw.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(
            "INVALID_ARGUMENT", "Invalid pageToken: it was not issued by this server."
        ) from None
    if bound != _binding(project, filter_text) or seq > 0:
        raise ApiError(
            "INVALID_ARGUMENT", "Invalid pageToken: it belongs to a different project or filter."
        )
    return created, seq
