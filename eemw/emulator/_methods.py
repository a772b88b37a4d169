"""Earth Engine REST methods beyond projects.operations: their ids, URL shapes and matching.

The table follows Earth Engine's own discovery document (method ids, HTTP verbs, `{+param}`
paths and their patterns), so earthengine-api builds the same URLs against the emulator as
against the service, and a request maps back onto the method id a test configures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "earthengine."
_PROJECT = "^projects/[^/]+$"
_ASSET = "^projects/[^/]+/assets/.*$"


@dataclass(frozen=True, slots=True)
class Method:
    """One REST method: `path` is relative to the version, as in a discovery document."""

    id: str
    http: str
    path: str
    params: tuple[tuple[str, str], ...]
    request: str | None = "JsonObject"
    response: str = "JsonObject"

    @property
    def resource_path(self) -> tuple[str, ...]:
        """('projects', 'maps', 'tiles') for earthengine.projects.maps.tiles.get."""
        return tuple(self.id[len(PREFIX) :].split(".")[:-1])

    @property
    def verb(self) -> str:
        return self.id.rsplit(".", 1)[1]

    def matcher(self) -> re.Pattern[str]:
        pattern = re.escape(self.path)
        for name, shape in self.params:
            body = shape.removeprefix("^").removesuffix("$") if shape else "[^/]+"
            pattern = pattern.replace(re.escape("{+" + name + "}"), f"({body})")
            pattern = pattern.replace(re.escape("{" + name + "}"), "([^/]+)")
        return re.compile(f"/(v1|v1beta|v1alpha)/{pattern}")


def _on_project(resource: str, verb: str, response: str = "JsonObject") -> Method:
    return Method(
        f"{PREFIX}projects.{resource}.{verb}",
        "POST",
        f"{{+project}}/{resource}:{verb}",
        (("project", _PROJECT),),
        response=response,
    )


def _create(resource: str, collection: str) -> Method:
    return Method(
        f"{PREFIX}projects.{resource}.create",
        "POST",
        f"{{+parent}}/{collection}",
        (("parent", _PROJECT),),
    )


def _get_pixels(resource: str) -> Method:
    return Method(
        f"{PREFIX}projects.{resource}.getPixels",
        "GET",
        "{+name}:getPixels",
        (("name", f"^projects/[^/]+/{resource}/[^/]+$"),),
        request=None,
    )


def _on_asset(verb: str, param: str, http: str = "POST") -> Method:
    return Method(
        f"{PREFIX}projects.assets.{verb}",
        http,
        f"{{+{param}}}:{verb}",
        ((param, _ASSET),),
        request=None if http == "GET" else "JsonObject",
    )


# Kinds of operation an export creates, by the method that starts it.
EXPORT_TYPES: Mapping[str, str] = {
    f"{PREFIX}projects.image.export": "EXPORT_IMAGE",
    f"{PREFIX}projects.table.export": "EXPORT_FEATURES",
    f"{PREFIX}projects.video.export": "EXPORT_VIDEO",
    f"{PREFIX}projects.map.export": "EXPORT_TILES",
    f"{PREFIX}projects.videoMap.export": "EXPORT_VIDEO_MAP",
    f"{PREFIX}projects.classifier.export": "EXPORT_CLASSIFIER",
    f"{PREFIX}projects.image.import": "INGEST_IMAGE",
    f"{PREFIX}projects.table.import": "INGEST_TABLE",
}
ALGORITHMS_LIST = f"{PREFIX}projects.algorithms.list"
VALUE_COMPUTE = f"{PREFIX}projects.value.compute"

# Specific shapes first: `{+name}` of assets.get would also match "…:listFeatures".
METHODS: tuple[Method, ...] = (
    Method(
        ALGORITHMS_LIST,
        "GET",
        "{+parent}/algorithms",
        (("parent", _PROJECT),),
        request=None,
        response="ListAlgorithmsResponse",
    ),
    _on_project("value", "compute"),
    _on_project("image", "computePixels"),
    _on_project("image", "export", "Operation"),
    _on_project("image", "import", "Operation"),
    _on_project("imageCollection", "computeImages"),
    _on_project("table", "computeFeatures"),
    _on_project("table", "export", "Operation"),
    _on_project("table", "import", "Operation"),
    _on_project("video", "export", "Operation"),
    _on_project("map", "export", "Operation"),
    _on_project("videoMap", "export", "Operation"),
    _on_project("classifier", "export", "Operation"),
    _create("maps", "maps"),
    _create("thumbnails", "thumbnails"),
    _create("videoThumbnails", "videoThumbnails"),
    _create("filmstripThumbnails", "filmstripThumbnails"),
    _create("featureView", "featureView"),
    _create("tables", "tables"),
    _get_pixels("thumbnails"),
    _get_pixels("videoThumbnails"),
    _get_pixels("filmstripThumbnails"),
    Method(
        f"{PREFIX}projects.maps.tiles.get",
        "GET",
        "{+parent}/tiles/{zoom}/{x}/{y}",
        (("parent", "^projects/[^/]+/maps/[^/]+$"), ("zoom", ""), ("x", ""), ("y", "")),
        request=None,
    ),
    Method(
        f"{PREFIX}projects.assets.create",
        "POST",
        "{+parent}/assets",
        (("parent", _PROJECT),),
    ),
    Method(
        f"{PREFIX}projects.listAssets",
        "GET",
        "{+parent}:listAssets",
        (("parent", _PROJECT),),
        request=None,
    ),
    Method(
        f"{PREFIX}projects.getConfig",
        "GET",
        "{+name}",
        (("name", "^projects/[^/]+/config$"),),
        request=None,
    ),
    _on_asset("listAssets", "parent", "GET"),
    _on_asset("listFeatures", "asset", "GET"),
    _on_asset("getPixels", "name"),
    _on_asset("copy", "sourceName"),
    _on_asset("move", "sourceName"),
    _on_asset("getIamPolicy", "resource"),
    _on_asset("setIamPolicy", "resource"),
    Method(f"{PREFIX}projects.assets.get", "GET", "{+name}", (("name", _ASSET),), request=None),
    Method(
        f"{PREFIX}projects.assets.delete",
        "DELETE",
        "{+name}",
        (("name", _ASSET),),
        request=None,
    ),
    Method(f"{PREFIX}projects.assets.patch", "PATCH", "{+name}", (("name", _ASSET),)),
)
METHOD_IDS = frozenset(m.id for m in METHODS)
_MATCHERS = tuple((m, m.matcher()) for m in METHODS)


def match(http: str, path: str) -> Method | None:
    """The method a request path (without query) hits, if any."""
    for method, matcher in _MATCHERS:
        if method.http == http and matcher.fullmatch(path):
            return method
    return None


def project_of(path: str) -> str | None:
    """The project in a versioned API path (/v1/projects/P/...), if there is one."""
    parts = path.split("/", 4)
    if len(parts) >= 4 and parts[2] == "projects" and parts[3]:
        return parts[3].split(":", 1)[0]
    return None
