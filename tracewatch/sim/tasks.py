"""The control plane's background work: tasks, flows and timed calls, cancelled together.

A flow is a simulated process (a kubelet starting a pod) written as a generator
that yields its waits: seconds to sleep, or a future to wait for. Where a task
pays, per `asyncio.sleep`, a future, a loop timer and a second callback to wake
it, a flow's wait is one entry in the TaskSet's own heap of due times, which a
single loop timer (at the earliest) drains: asyncio compares its timers in Python
(`TimerHandle.__lt__`), this heap compares tuples in C, and the kubelet keeps
thousands of waits pending under churn. `later` calls share that heap.

Whatever is due when the heap's timer fires runs then, in due-time order (ties
in the order they were scheduled), as asyncio runs the timers due at one turn;
what is scheduled meanwhile, even with no delay, waits for a later turn.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeAlias, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Wait: TypeAlias = "float | asyncio.Future[Any]"
"""What a flow yields: seconds to wait, or a future to wait for (its result is not sent)."""
Steps: TypeAlias = Generator[Wait, None, T]
"""A flow's body; `yield from` runs another's steps in line and gives its return value."""
Due: TypeAlias = "tuple[float, int, Flow | _Call]"
"""A heap entry: loop time due, sequence number (ties and identity), what to wake."""


class Flow:
    """One running generator of waits (see the module docstring); `cancel` closes it.

    Closing raises GeneratorExit at the pending `yield`, so the body's `finally`
    blocks run, as a cancelled task's do at its pending `await`.
    """

    __slots__ = ("_loop", "_on_done", "_owner", "_steps", "_wait", "finished", "name")

    def __init__(self, owner: TaskSet, steps: Steps[Any], *, name: str) -> None:
        self._owner = owner
        self._steps = steps
        self.name = name
        self.finished = False
        self._on_done: list[Callable[[], object]] | None = None
        self._loop = loop = asyncio.get_running_loop()
        # Started on a later loop turn, as a task is: the body may write to the store,
        # which a caller inside a store listener must not do.
        self._wait: Due | asyncio.Future[Any] | None = owner.at(loop.time(), self)

    def wake(self, due: Due) -> None:
        """Called by the heap when `due` comes: resume unless that wait was cancelled."""
        if self._wait is due:
            self._step()

    def _step(self, _: object = None) -> None:
        self._wait = None  # running: a `cancel` from inside the body closes it after the step
        try:
            wait = self._steps.send(None)
        except StopIteration:
            self._finish()
            return
        except Exception as error:  # a simulator bug: kept for the tests, as a task's
            self._owner.failed(self.name, error)
            self._finish()
            return
        if self.finished:  # cancelled by its own step
            self._steps.close()
        elif isinstance(wait, asyncio.Future):
            self._wait = wait
            wait.add_done_callback(self._step)
        else:
            self._wait = self._owner.at(self._loop.time() + wait, self)

    def cancel(self) -> None:
        """Stop it at its pending wait (its `finally` blocks run); no-op once finished."""
        if self.finished:
            return
        wait, self._wait = self._wait, None  # a heap entry left behind wakes nothing
        if wait is None:  # inside its own step: `_step` closes it when the step yields
            self._finish()
            return
        if isinstance(wait, asyncio.Future):
            wait.remove_done_callback(self._step)
        self._steps.close()
        self._finish()

    def on_done(self, callback: Callable[[], object]) -> None:
        """Call `callback()` when the flow finishes (returns, raises or is cancelled)."""
        if self.finished:
            callback()
        elif self._on_done is None:
            self._on_done = [callback]
        else:
            self._on_done.append(callback)

    def _finish(self) -> None:
        self.finished = True
        self._owner.forget(self)
        callbacks, self._on_done = self._on_done, None
        for callback in callbacks or ():
            callback()


class _Call:
    """A `later` call waiting in the heap."""

    __slots__ = ("args", "callback", "owner")

    def __init__(self, owner: TaskSet, callback: Callable[..., object], args: tuple[Any, ...]):
        self.owner = owner
        self.callback = callback
        self.args = args

    def wake(self, due: Due) -> None:
        try:
            self.callback(*self.args)
        except Exception as error:  # a simulator bug: kept for the tests, as a task's
            self.owner.failed(self.callback.__qualname__, error)


class FlowLock:
    """A FIFO mutex for flows, as asyncio.Lock is for tasks (free: taken at once)."""

    def __init__(self) -> None:
        self._held = False
        self._turns: deque[asyncio.Future[None]] = deque()

    def take(self) -> asyncio.Future[None] | None:
        """None if taken at once; else the turn to wait for (done: the lock is handed over)."""
        if not self._held:
            self._held = True
            return None
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._turns.append(turn)
        return turn

    def give(self, turn: asyncio.Future[None] | None) -> None:
        """Give the lock back (or, with a turn still awaited, give up waiting for it)."""
        if turn is not None and not turn.done():
            turn.cancel()  # never held it; skipped when the lock is handed over
            return
        while self._turns:
            waiting = self._turns.popleft()
            if not waiting.done():
                waiting.set_result(None)  # still held: it passes to that flow
                return
        self._held = False


def locked(lock: FlowLock | None, steps: Steps[T]) -> Steps[T]:
    """`steps` run holding `lock` (at once without one), as `async with lock:` runs its body."""
    if lock is None:
        return (yield from steps)
    turn = lock.take()
    try:
        if turn is not None:
            yield turn
        return (yield from steps)
    finally:
        lock.give(turn)


class TaskSet:
    """Owns fire-and-forget tasks, flows and `later` calls; none is leaked at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flows: set[Flow] = set()
        self._heap: list[Due] = []
        self._count = 0
        """Entries ever scheduled: the next entry's sequence number."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        """When `_timer` fires (the heap's earliest entry, or earlier); inf when unarmed."""
        self.failures: list[BaseException] = []
        """Exceptions raised by finished tasks (a simulator bug); tests assert it stays empty."""

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def run(self, steps: Steps[Any], *, name: str) -> Flow:
        """Start a flow (from a later loop turn); its failure is kept as a task's would be."""
        flow = Flow(self, steps, name=name)
        self._flows.add(flow)
        return flow

    def together(self, steps: list[Steps[Any]], *, name: str) -> Steps[None]:
        """Run each of `steps` as its own flow; done when all are (as `asyncio.gather`).

        Closed before then (the flow running it was cancelled), it cancels the rest."""
        joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        flows = [self.run(s, name=name) for s in steps]
        pending = len(flows)

        def one_done() -> None:
            nonlocal pending
            pending -= 1
            if not pending and not joined.done():
                joined.set_result(None)

        for flow in flows:
            flow.on_done(one_done)
        try:
            if pending:
                yield joined
        finally:
            for flow in flows:
                flow.cancel()

    def later(self, delay: float, callback: Callable[..., object], *args: Any) -> None:
        """Call `callback(*args)` after `delay` s (cheaper than a task that sleeps first).

        Its failure is kept as a task's would be; after `cancel_all` it is not called."""
        self.at(asyncio.get_running_loop().time() + delay, _Call(self, callback, args))

    def at(self, when: float, what: Flow | _Call) -> Due:
        """Wake `what` at loop time `when` (its `wake(entry)`); the heap entry is returned."""
        self._count += 1
        due = (when, self._count, what)
        heapq.heappush(self._heap, due)
        if when < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(when, self._fire)
            self._timer_at = when
        return due

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        now = max(self._timer_at, loop.time())
        self._timer, self._timer_at = None, math.inf
        heap, last = self._heap, self._count
        deferred = []
        while heap and heap[0][0] <= now:
            due = heapq.heappop(heap)
            if due[1] > last:  # scheduled by this round: a later turn, as with asyncio
                deferred.append(due)
            else:
                due[2].wake(due)
        for due in deferred:
            heapq.heappush(heap, due)
        if heap and heap[0][0] < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = heap[0][0]
            self._timer = loop.call_at(self._timer_at, self._fire)

    def failed(self, what: str, error: BaseException) -> None:
        """Keep and log the failure of a task, flow or `later` call (a simulator bug)."""
        self.failures.append(error)
        log.error("simulator work %s failed", what, exc_info=error)

    def forget(self, flow: Flow) -> None:
        """Called by a flow that finished."""
        self._flows.discard(flow)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failed(task.get_name(), error)

    def __len__(self) -> int:
        return len(self._tasks) + len(self._flows)

    async def cancel_all(self) -> None:
        """Cancel every task, flow and pending `later` call; wait until the tasks have finished."""
        for flow in list(self._flows):
            flow.cancel()
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
