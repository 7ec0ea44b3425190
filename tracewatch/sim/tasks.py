"""The control plane's background tasks: spawned, tracked, cancelled together, failures kept."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Owns fire-and-forget tasks so none is garbage-collected or leaked at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._epoch = 0
        """Bumped by `cancel_all`: `later` calls made before it are dropped."""
        self.failures: list[BaseException] = []
        """Exceptions raised by finished tasks (a simulator bug); tests assert it stays empty."""

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def later(self, delay: float, callback: Callable[..., object], *args: Any) -> None:
        """Call `callback(*args)` after `delay` s (cheaper than a task that sleeps first).

        Its failure is kept as a task's would be; after `cancel_all` it is not called."""
        asyncio.get_running_loop().call_later(delay, self._call, self._epoch, callback, args)

    def _call(self, epoch: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        if epoch != self._epoch:
            return  # cancelled by `cancel_all`
        try:
            callback(*args)
        except Exception as error:  # a simulator bug: kept for the tests, as a task's
            self.failures.append(error)
            log.error("simulator callback %s failed", callback.__qualname__, exc_info=error)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failures.append(error)
            log.error("simulator task %s failed", task.get_name(), exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task and pending `later` call, and wait until the tasks have finished."""
        self._epoch += 1
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
