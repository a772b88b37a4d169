"""``http.client.request.duration`` from the http-tracing stage alone (MockTransport)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from eemw import Call, ConnectError, Context, Entry, Headers, Request, Response, Stack
from eemw._metrics import Metrics
from eemw.middleware import Tracing
from eemw.testing import respond

NAME = "projects/demo/operations/op-1"
GET = Call("get", "demo", "v1", NAME)


def send(reader: InMemoryMetricReader, url: str, handler: Callable[[Request], Response],
         method: str = "GET") -> None:
    tracing = Tracing(metrics=Metrics(MeterProvider(metric_readers=[reader])))
    pipeline = Stack([Entry("http-tracing", tracing.http(), "attempt")]).build(handler)
    request = Request(method, url, Headers({}), GET, context=Context())
    with contextlib.suppress(ConnectError):  # the failure is what some tests measure
        pipeline(request)


def http_points(reader: InMemoryMetricReader) -> list[tuple[dict[str, Any], int]]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        (dict(point.attributes or {}), point.count)
        for resource in data.resource_metrics for scope in resource.scope_metrics
        for metric in scope.metrics if metric.name == "http.client.request.duration"
        for point in metric.data.data_points
    ]


@pytest.mark.parametrize(("url", "address", "port", "scheme"), [
    ("https://earthengine.googleapis.com/v1/" + NAME, "earthengine.googleapis.com", 443, "https"),
    ("http://127.0.0.1:8080/v1/" + NAME + "?key=secret", "127.0.0.1", 8080, "http"),
])
def test_a_response_gives_the_stable_http_attributes_and_never_the_url(
    url: str, address: str, port: int, scheme: str
) -> None:
    reader = InMemoryMetricReader()
    send(reader, url, lambda r: respond(r, json={"name": NAME}))
    assert http_points(reader) == [({
        "http.request.method": "GET", "server.address": address, "server.port": port,
        "url.scheme": scheme, "http.response.status_code": 200,
    }, 1)]


def test_an_error_status_sets_error_type_to_the_status() -> None:
    reader = InMemoryMetricReader()
    send(reader, "https://h.example/v1/x", lambda r: respond(r, 503, json={}), "POST")
    ((attributes, count),) = http_points(reader)
    assert count == 1
    assert attributes["http.request.method"] == "POST"
    assert (attributes["http.response.status_code"], attributes["error.type"]) == (503, "503")


def test_a_failure_without_a_response_has_an_error_type_and_no_status() -> None:
    def refuse(request: Request) -> Response:
        raise ConnectError("connection refused")

    reader = InMemoryMetricReader()
    send(reader, "https://h.example/v1/x", refuse, "PURGE")
    ((attributes, _),) = http_points(reader)
    assert attributes["error.type"] == "ConnectError"
    assert attributes["http.request.method"] == "_OTHER"
    assert "http.response.status_code" not in attributes
