"""A paged List of one resource, decoded into snapshots."""

from __future__ import annotations

from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.connection import ApiTransport
from tracewatch.kube.decoding import ListPage, decoder_for
from tracewatch.kube.resources import WatchedResource

__all__ = ["list_objects"]


async def list_objects(
    *,
    connection: ApiTransport,
    resource: WatchedResource,
    namespace: str | None,
    resource_version: str,
    page_size: int,
    timeout: float,
    label_selector: str | None = None,
) -> ListPage:
    """List every object, following `continue` tokens; one ListPage with all items.

    The result's resource_version is the list's (the snapshot a watch continues
    from). Raises ApiError (a 410 means the version or the continue token expired),
    ReadTimeout, aiohttp.ClientError, DecodeError for a body that is not a List.
    """
    decoder = decoder_for(resource.name)
    path = resource.path(namespace=namespace)
    items: list[Snapshot] = []
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
        page = decoder.decode_list(await connection.get_json_bytes(path, params, timeout=timeout))
        items.extend(page.items)
        invalid += page.invalid_items
        if not page.continue_token:
            return ListPage(
                items=tuple(items),
                resource_version=page.resource_version,
                invalid_items=invalid,
            )
        continue_token = page.continue_token
