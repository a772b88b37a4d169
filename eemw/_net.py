"""Small network facts shared by the transport, the auth stage and the CLI."""

from __future__ import annotations

__all__ = ["is_loopback", "secs"]


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
