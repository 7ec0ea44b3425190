"""A paged List of one resource, decoded into snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.connection import ApiTransport
from tracewatch.kube.decoding import ListPage, decoder_for
from tracewatch.kube.resources import WatchedResource

__all__ = ["ListResult", "list_objects", "list_pages"]


@dataclass(frozen=True, slots=True)
class ListResult:
    """A List page (or a whole List) and, in record mode, each item's raw bytes."""

    page: ListPage
    raw: tuple[bytes, ...] | None = None
    """Each item's bytes as received, aligned with `page.items`; None unless keep_raw."""


async def list_pages(
    *,
    connection: ApiTransport,
    resource: WatchedResource,
    namespace: str | None,
    resource_version: str,
    page_size: int,
    timeout: float,
    label_selector: str | None = None,
    keep_raw: bool = False,
) -> AsyncIterator[ListResult]:
    """List every object, following `continue` tokens, one page at a time.

    Each page's resource_version is the list's (the snapshot a watch continues
    from); its raw item bytes come along in record mode. Yielding pages keeps the
    memory of a 100k-object List at one page, not the whole set. Raises ApiError
    (a 410 means the version or the continue token expired), ReadTimeout,
    aiohttp.ClientError, DecodeError for a body that is not a List.
    """
    decoder = decoder_for(resource.name)
    path = resource.path(namespace=namespace)
    continue_token = ""
    while True:
        params = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if continue_token:
            # The token pins the snapshot; the server rejects resourceVersion beside it.
            params["continue"] = continue_token
        elif resource_version:
            params["resourceVersion"] = resource_version
        body = await connection.get_json_bytes(path, params, timeout=timeout)
        if keep_raw:
            page, raw = decoder.decode_list_with_raw(body)
            yield ListResult(page, tuple(raw))
        else:
            page = decoder.decode_list(body)
            yield ListResult(page, None)
        if not page.continue_token:
            return
        continue_token = page.continue_token


async def list_objects(**kwargs: Any) -> ListResult:
    """The whole List as one ListPage (every page's items); arguments as `list_pages`."""
    items: list[Snapshot] = []
    raws: list[bytes] = []
    invalid = 0
    last: ListPage | None = None
    async for result in list_pages(**kwargs):
        last = result.page
        items.extend(last.items)
        invalid += last.invalid_items
        if result.raw is not None:
            raws.extend(result.raw)
    assert last is not None
    whole = ListPage(
        items=tuple(items), resource_version=last.resource_version, invalid_items=invalid
    )
    return ListResult(whole, tuple(raws) if kwargs.get("keep_raw") else None)
