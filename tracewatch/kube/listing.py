"""A paged List of one resource, decoded into snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.connection import ApiTransport
from tracewatch.kube.decoding import ListPage, decoder_for
from tracewatch.kube.resources import WatchedResource

__all__ = ["ListResult", "list_objects"]


@dataclass(frozen=True, slots=True)
class ListResult:
    """A whole List: every page's items in one ListPage, and (record mode) their raw bytes."""

    page: ListPage
    raw: tuple[bytes, ...] | None = None
    """Each item's bytes as received, aligned with `page.items`; None unless keep_raw."""


async def list_objects(
    *,
    connection: ApiTransport,
    resource: WatchedResource,
    namespace: str | None,
    resource_version: str,
    page_size: int,
    timeout: float,
    label_selector: str | None = None,
    keep_raw: bool = False,
) -> ListResult:
    """List every object, following `continue` tokens; one ListPage with all items.

    The page's resource_version is the list's (the snapshot a watch continues
    from). Raises ApiError (a 410 means the version or the continue token expired),
    ReadTimeout, aiohttp.ClientError, DecodeError for a body that is not a List.
    """
    decoder = decoder_for(resource.name)
    path = resource.path(namespace=namespace)
    items: list[Snapshot] = []
    raws: list[bytes] = []
    invalid = 0
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
            raws.extend(raw)
        else:
            page = decoder.decode_list(body)
        items.extend(page.items)
        invalid += page.invalid_items
        if not page.continue_token:
            whole = ListPage(
                items=tuple(items),
                resource_version=page.resource_version,
                invalid_items=invalid,
            )
            return ListResult(whole, tuple(raws) if keep_raw else None)
        continue_token = page.continue_token
