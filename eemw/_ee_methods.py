"""Which Earth Engine REST method a request of earthengine-api hits, and whether it may repeat.

One maintained table, :data:`METHODS`, maps an HTTP method and a URL path (after the API
version) to the REST method id (``projects.value.compute``), and says whether sending the
request twice is the same as sending it once. :func:`classify` reads it for every request
:mod:`eemw.earthengine` carries; a request it does not know is still sent, as
``earthengine.unknown``, and repeated only when its HTTP method is GET.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["DISCOVERY", "METHODS", "UNKNOWN", "Method", "Route", "classify", "has_request_id"]

Safety = Literal["safe", "reconcile", "unsafe", "request_id"]
"""``safe``: a read, a computation, or a change that is the same done twice;
``reconcile``: a change whose repeat may answer "already done" (operations cancel/delete);
``unsafe``: a create that would happen twice; ``request_id``: safe when the body carries a
``requestId`` (the server then applies it once), unsafe without one."""

_VERSIONS = ("v1", "v1beta", "v1alpha")


@dataclass(frozen=True, slots=True)
class Method:
    """One REST method: its id, HTTP method, path template, repeat safety and effect.

    In ``path``, ``{p}`` is the project (one segment), ``{x}`` any one segment and
    ``{+x}`` one or more segments (an asset name).
    """

    kind: str
    http_method: str
    path: str
    safety: Safety
    mutates: bool


@dataclass(frozen=True, slots=True)
class Route:
    """What :func:`classify` found: the call's kind, project, version and how it repeats."""

    kind: str
    project: str
    api_version: str
    repeat: Literal["safe", "reconcile", "unsafe"]
    mutates: bool


def _m(kind: str, http: str, path: str, safety: Safety, mutates: bool = False) -> Method:
    return Method(kind, http, path, safety, mutates)


_ASSET = "projects/{p}/assets/{+a}"
_OPERATION = "projects/{p}/operations/{x}"

# Verb paths first: "{+a}" would otherwise swallow ":listAssets" and friends.
METHODS: tuple[Method, ...] = (
    # Computations: read-only, the same answer twice.
    _m("projects.value.compute", "POST", "projects/{p}/value:compute", "safe"),
    _m("projects.image.computePixels", "POST", "projects/{p}/image:computePixels", "safe"),
    _m("projects.imageCollection.computeImages", "POST",
       "projects/{p}/imageCollection:computeImages", "safe"),
    _m("projects.table.computeFeatures", "POST", "projects/{p}/table:computeFeatures", "safe"),
    # Exports and imports start a task: applied once only when the body names a requestId.
    *(_m(f"projects.{what}.export", "POST", f"projects/{{p}}/{what}:export", "request_id", True)
      for what in ("image", "table", "video", "map", "videoMap", "classifier")),
    _m("projects.image.import", "POST", "projects/{p}/image:import", "request_id", True),
    _m("projects.table.import", "POST", "projects/{p}/table:import", "request_id", True),
    _m("projects.image.importExternal", "POST", "projects/{p}/image:importExternal", "unsafe",
       True),
    # Assets.
    _m("projects.listAssets", "GET", "projects/{p}:listAssets", "safe"),
    _m("projects.assets.listAssets", "GET", _ASSET + ":listAssets", "safe"),
    _m("projects.assets.listFeatures", "GET", _ASSET + ":listFeatures", "safe"),
    _m("projects.assets.getPixels", "POST", _ASSET + ":getPixels", "safe"),
    _m("projects.assets.getIamPolicy", "POST", _ASSET + ":getIamPolicy", "safe"),
    _m("projects.assets.testIamPermissions", "POST", _ASSET + ":testIamPermissions", "safe"),
    _m("projects.assets.setIamPolicy", "POST", _ASSET + ":setIamPolicy", "safe", True),
    _m("projects.assets.copy", "POST", _ASSET + ":copy", "unsafe", True),
    _m("projects.assets.move", "POST", _ASSET + ":move", "unsafe", True),
    _m("projects.assets.get", "GET", _ASSET, "safe"),
    _m("projects.assets.patch", "PATCH", _ASSET, "safe", True),
    _m("projects.assets.delete", "DELETE", _ASSET, "unsafe", True),
    _m("projects.assets.create", "POST", "projects/{p}/assets", "unsafe", True),
    # Maps, thumbnails and tables for download: short-lived, read-only results.
    _m("projects.maps.tiles.get", "GET", "projects/{p}/maps/{x}/tiles/{x}/{x}/{x}", "safe"),
    _m("projects.maps.create", "POST", "projects/{p}/maps", "safe"),
    *(m for what in ("thumbnails", "videoThumbnails", "filmstripThumbnails") for m in (
        _m(f"projects.{what}.getPixels", "GET", f"projects/{{p}}/{what}/{{x}}:getPixels", "safe"),
        _m(f"projects.{what}.create", "POST", f"projects/{{p}}/{what}", "safe"),
    )),
    _m("projects.tables.getFeatures", "GET", "projects/{p}/tables/{x}:getFeatures", "safe"),
    _m("projects.tables.create", "POST", "projects/{p}/tables", "safe"),
    # The algorithms ee loads when it initializes, and the project's configuration.
    _m("projects.algorithms.list", "GET", "projects/{p}/algorithms", "safe"),
    _m("projects.getConfig", "GET", "projects/{p}/config", "safe"),
    _m("projects.updateConfig", "PATCH", "projects/{p}/config", "safe", True),
    # Operations, as eemw's own operations calls treat them.
    _m("projects.operations.list", "GET", "projects/{p}/operations", "safe"),
    _m("projects.operations.wait", "POST", _OPERATION + ":wait", "safe"),
    _m("projects.operations.cancel", "POST", _OPERATION + ":cancel", "reconcile", True),
    _m("projects.operations.get", "GET", _OPERATION, "safe"),
    _m("projects.operations.delete", "DELETE", _OPERATION, "reconcile", True),
)
"""Every REST method :mod:`eemw.earthengine` names, in match order."""

DISCOVERY = "discovery.getRest"
"""The kind of the discovery-document request ee makes when it initializes."""

UNKNOWN = "unknown"
"""The kind of any request the table does not know."""


def _pattern(path: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\{\+?\w+\})", path):
        if part == "{p}":
            out.append("(?P<p>[^/]+)")
        elif part.startswith("{+"):
            out.append(".+")
        elif part.startswith("{"):
            out.append("[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


_BY_HTTP: dict[str, list[tuple[re.Pattern[str], Method]]] = {}
for _method in METHODS:
    _BY_HTTP.setdefault(_method.http_method, []).append((_pattern(_method.path), _method))


def classify(
    http_method: str, path: str, body: bytes | None, default_version: str
) -> Route | None:
    """The :class:`Route` of a request for ``path`` (``/v1/projects/…``, no query), or
    ``None`` when the path is not of the Earth Engine API (a token endpoint).

    ``default_version`` is used when the path names none (the discovery document).
    """
    http_method = http_method.upper()
    version, _, rest = path.lstrip("/").partition("/")
    if version not in _VERSIONS:
        if path.startswith("/$discovery/"):
            return _unknown(DISCOVERY, http_method, "", default_version)
        return None
    for pattern, method in _BY_HTTP.get(http_method, ()):
        match = pattern.fullmatch(rest)
        if match is not None:
            return Route(
                method.kind, match.group("p"), version, _repeat(method.safety, body),
                method.mutates,
            )
    project = rest.split("/", 2)[1] if rest.startswith("projects/") else ""
    return _unknown(UNKNOWN, http_method, project.split(":")[0], version)


def _unknown(kind: str, http_method: str, project: str, version: str) -> Route:
    read = http_method in ("GET", "HEAD")
    return Route(kind, project, version, "safe" if read else "unsafe", not read)


def _repeat(safety: Safety, body: bytes | None) -> Literal["safe", "reconcile", "unsafe"]:
    if safety != "request_id":
        return safety
    return "safe" if has_request_id(body) else "unsafe"


def has_request_id(body: bytes | None) -> bool:
    """True when a JSON request body carries a non-empty top-level ``requestId``."""
    if not body or b'"requestId"' not in body:
        return False
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    request_id = value.get("requestId") if isinstance(value, dict) else None
    return isinstance(request_id, str) and bool(request_id.strip())
