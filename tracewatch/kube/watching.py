"""One HTTP watch request, decoded line by line.

This layer owns a single stream and nothing else: it opens the watch, applies the
client read timeout (via the connection), decodes each line, turns an in-stream
ERROR event into the same ApiError an HTTP error would raise (so a 410 is a 410
wherever it comes from), and hands malformed lines up as in-band markers instead of
failing. Reconnecting, relisting and backoff belong to the informer above.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from tracewatch.kube.connection import ApiError, ApiTransport
from tracewatch.kube.decoding import DecodeError, WatchLine, decoder_for
from tracewatch.kube.resources import WatchedResource

__all__ = ["MalformedLine", "RawWatchLine", "watch_once"]


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """In-band marker: a line that did not decode (the stream goes on)."""

    error: str


@dataclass(frozen=True, slots=True)
class RawWatchLine:
    """A decoded object line with the object's bytes as received (record mode only)."""

    item: WatchLine
    raw: bytes


async def watch_once(
    *,
    connection: ApiTransport,
    resource: WatchedResource,
    namespace: str | None,
    resource_version: str,
    timeout_seconds: int,
    read_timeout: float,
    label_selector: str | None = None,
    on_open: Callable[[], None] | None = None,
    keep_raw: bool = False,
) -> AsyncGenerator[WatchLine | RawWatchLine | MalformedLine, None]:
    """Watch `resource` from `resource_version` until the server ends the stream.

    Yields ADDED/MODIFIED/DELETED/BOOKMARK lines and MalformedLine markers; returns
    when the stream ends normally (server `timeoutSeconds`). Raises ApiError for an
    HTTP error or an in-stream ERROR event, ReadTimeout when the stream goes silent
    for `read_timeout`, aiohttp.ClientError when the connection breaks. `on_open` is
    called when the server accepts the watch. With `keep_raw`, object lines come as
    RawWatchLine (a second decoding pass; the normal path does not pay for it).
    """
    params = {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(timeout_seconds),
    }
    if resource_version:
        params["resourceVersion"] = resource_version
    if label_selector:
        params["labelSelector"] = label_selector
    decoder = decoder_for(resource.name)
    lines = connection.get_stream(
        resource.path(namespace=namespace), params, timeout=read_timeout, on_open=on_open
    )
    async with contextlib.aclosing(lines):
        async for line in lines:
            try:
                item = decoder.decode_line(line)
            except DecodeError as exc:
                yield MalformedLine(str(exc))
                continue
            if item.type == "ERROR":
                status = item.status
                assert status is not None
                raise ApiError(
                    status=status.code or 500, reason=status.reason, message=status.message
                )
            if keep_raw and item.obj is not None:
                yield RawWatchLine(item, decoder.raw_object(line))
                continue
            yield item
