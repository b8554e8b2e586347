"""A small Server-Sent Events reader over a real HTTP connection (http.client), for the
event stream tests: it reads events as the server sends them, until the stream ends."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    name: str
    id: str | None
    data: Any


def events(
    port: int, path: str, last_event_id: str | None = None, timeout: float = 60
) -> Iterator[Event]:
    """The events of `GET path` in order; ends when the server closes the stream."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status == 204:
            return
        assert response.status == 200, (response.status, response.read())
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        yield from parse(response)
    finally:
        conn.close()


def parse(stream: Any) -> Iterator[Event]:
    """Events from a file-like object of lines (bytes)."""
    fields: dict[str, str] = {}
    for raw in stream:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield Event(
                    fields.get("event", "message"), fields.get("id"), json.loads(fields["data"])
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
