"""Small network facts shared by the transport, the auth stage and the CLI."""

from __future__ import annotations

__all__ = ["HEADER_NAME_CHARS", "is_loopback", "secs"]

HEADER_NAME_CHARS = "!#$%&'*+.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"
"""The characters of an RFC 9110 token (a header name). ``text.strip(HEADER_NAME_CHARS)`` is
empty exactly when every character of ``text`` is one: strip stops at the first other
character from either end. Cheaper than a regular expression, which every process would
compile at import."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback.

    Only ``localhost`` counts among names: any other name could resolve anywhere.
    """
    host = host.strip("[]")
    if host == "localhost":
        return True
    import ipaddress  # rarely needed: only for plain-http endpoints

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secs(timeout: float | None) -> str:
    """A timeout as error messages show it: ``0.3s``, ``none``."""
    return "none" if timeout is None else f"{timeout:.3g}s"
