"""A tiny API server holding N Running pods and their ReplicaSets, for memory and cold start.

Run as its own process (so its memory is not the measured one): it builds
every object up front, prints `READY <url>` and then serves paged Lists
(`limit`/`continue`, as the real server pages them) of pods and replicasets,
empty Lists of every other resource, and watches that stay open and quiet
(one BOOKMARK every few seconds) until `timeoutSeconds` or the client leaves.

Objects come from `capture_gen.steady_state` (the capture's shapes and sizes,
~6.8 KB per pod): a few hundred ReplicaSet groups are generated and the rest
are copies with fresh names and uids, which is what each pod costs a client
anyway (every decoded string is its own object).

    python bench/listserver.py --pods 100000
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import capture_gen
import common  # noqa: F401  (sets the import path)
import orjson
from aiohttp import web

PAGE_LIMIT_DEFAULT = 500
RESOURCE_VERSION = "900000"
_KINDS = {"pods": "PodList", "replicasets": "ReplicaSetList"}


def build_objects(*, pods: int, per_replicaset: int = 10) -> dict[str, list[bytes]]:
    """Encoded items by resource: `pods` pods and one ReplicaSet per `per_replicaset` pods."""
    groups: list[tuple[bytes, list[bytes], list[str], str]] = []
    current: tuple[bytes, list[bytes], list[str], str] | None = None
    template_pods = min(pods, 200 * per_replicaset)
    for resource, obj in capture_gen.steady_state(pods=template_pods,
                                                  per_replicaset=per_replicaset):
        meta = obj["metadata"]
        if resource == "replicasets":
            current = (orjson.dumps(obj), [], [meta["uid"]], meta["name"])
            groups.append(current)
        else:
            assert current is not None
            current[1].append(orjson.dumps(obj))
            current[2].append(meta["uid"])
    out: dict[str, list[bytes]] = {"pods": [], "replicasets": []}
    group = 0
    while len(out["pods"]) < pods:
        rs, members, uids, name = groups[group % len(groups)]
        fresh = {old: f"{group:08x}-{k:04x}-4000-a000-{group * 16 + k:012x}"
                 for k, old in enumerate(uids)}
        new_name = f"{name}-{group:x}"

        def renamed(blob: bytes, fresh: dict[str, str] = fresh, new_name: str = new_name,
                    name: str = name) -> bytes:
            for old, new in fresh.items():
                blob = blob.replace(old.encode(), new.encode())
            return blob.replace(f'"{name}'.encode(), f'"{new_name}'.encode())

        out["replicasets"].append(renamed(rs))
        out["pods"].extend(renamed(m) for m in members[: pods - len(out["pods"])])
        group += 1
    return out


def _list_body(resource: str, items: list[bytes], start: int, limit: int) -> bytes:
    page = items[start:start + limit]
    following = start + limit
    meta: dict[str, str] = {"resourceVersion": RESOURCE_VERSION}
    if following < len(items):
        meta["continue"] = str(following)
    head = orjson.dumps({"kind": _KINDS.get(resource, "List"), "apiVersion": "v1",
                         "metadata": meta})
    return head[:-1] + b',"items":[' + b",".join(page) + b"]}"


def make_app(objects: dict[str, list[bytes]]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        resource = request.path.rstrip("/").rsplit("/", 1)[-1]
        query = request.query
        if query.get("watch") in ("1", "true"):
            return await _watch(request, float(query.get("timeoutSeconds", "300")))
        items = objects.get(resource, [])
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        return web.Response(body=_list_body(resource, items, start, limit),
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


async def _watch(request: web.Request, timeout_s: float) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    bookmark = orjson.dumps({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                             "metadata": {"resourceVersion": RESOURCE_VERSION}}}) + b"\n"
    try:
        while loop.time() < end:
            await asyncio.sleep(min(5.0, max(0.0, end - loop.time())))
            await response.write(bookmark)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def serve(*, pods: int, port: int) -> None:
    objects = build_objects(pods=pods)
    runner = web.AppRunner(make_app(objects), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    print(f"READY http://{host}:{bound}", flush=True)
    # Serve until the parent closes our stdin.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/listserver.py")
    parser.add_argument("--pods", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(pods=args.pods, port=args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
