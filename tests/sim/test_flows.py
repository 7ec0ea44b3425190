"""Flows (`tracewatch.sim.tasks`): generator processes resumed by the TaskSet's timer heap."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tracewatch.sim.tasks import FlowLock, Steps, TaskSet, locked

TURNS = 5
"""Loop turns that let due zero-delay waits run."""


async def _turns(n: int = TURNS) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_flow_waits_its_delays_and_leaves_the_set_when_done() -> None:
    """Each yielded delay is waited (in loop time), and a finished flow is no longer counted."""
    tasks = TaskSet()
    loop = asyncio.get_running_loop()
    seen: list[float] = []

    def body() -> Steps[None]:
        seen.append(loop.time())
        yield 0.02
        seen.append(loop.time())
        yield 0.03
        seen.append(loop.time())

    flow = tasks.run(body(), name="waits")
    assert len(tasks) == 1 and seen == []  # started on a later turn, not inside `run`
    await asyncio.sleep(0.1)
    assert flow.finished and len(tasks) == 0
    assert seen[1] - seen[0] >= 0.02 and seen[2] - seen[1] >= 0.03
    await tasks.cancel_all()


async def test_cancel_closes_the_body_at_its_pending_wait() -> None:
    """A cancelled flow runs its `finally` at once and never takes another step."""
    tasks = TaskSet()
    log: list[str] = []

    def body() -> Steps[None]:
        try:
            log.append("start")
            yield 0.01
            log.append("after")
        finally:
            log.append("closed")

    flow = tasks.run(body(), name="cancelled")
    await _turns()
    flow.cancel()
    assert log == ["start", "closed"] and len(tasks) == 0
    await asyncio.sleep(0.03)
    assert log == ["start", "closed"]
    await tasks.cancel_all()


async def test_a_failing_flow_is_kept_as_a_failure() -> None:
    """An exception in a flow's body ends it and lands in `failures`, as a task's would."""
    tasks = TaskSet()

    def body() -> Steps[None]:
        yield 0.0
        raise ValueError("bug")

    tasks.run(body(), name="failing")
    await _turns()
    assert [str(e) for e in tasks.failures] == ["bug"] and len(tasks) == 0
    await tasks.cancel_all()


async def test_waits_due_in_one_round_run_earliest_first() -> None:
    """Waits that came due together (the loop was busy) resume in due-time order."""
    tasks = TaskSet()
    order: list[str] = []

    def body(name: str, delay: float) -> Steps[None]:
        yield delay
        order.append(name)

    tasks.run(body("late", 0.02), name="late")
    tasks.run(body("early", 0.01), name="early")
    await _turns()  # both started: their waits are pending
    time.sleep(0.03)  # a busy loop: both are due by the next round
    await _turns()
    assert order == ["early", "late"]
    await tasks.cancel_all()


async def test_a_wait_scheduled_within_a_round_runs_on_a_later_one() -> None:
    """A flow that waits 0 s is resumed on a later round, after the others due with it."""
    tasks = TaskSet()
    log: list[str] = []

    def body(name: str, steps: int) -> Steps[None]:
        for i in range(steps):
            log.append(f"{name}{i}")
            yield 0.0

    tasks.run(body("a", 3), name="a")
    tasks.run(body("b", 1), name="b")
    await _turns()
    assert log == ["a0", "b0", "a1", "a2"]
    await tasks.cancel_all()


async def test_together_finishes_when_all_do_and_cancels_the_rest_if_cancelled() -> None:
    """`together` is done when every part is; cancelling its flow cancels unfinished parts."""
    tasks = TaskSet()
    done: list[str] = []

    def part(name: str, delay: float) -> Steps[None]:
        try:
            yield delay
            done.append(name)
        finally:
            done.append(name + " closed")

    def parent(delays: dict[str, float]) -> Steps[None]:
        yield from tasks.together([part(n, d) for n, d in delays.items()], name="parts")
        done.append("joined")

    tasks.run(parent({"a": 0.01, "b": 0.02}), name="parent")
    await asyncio.sleep(0.06)
    assert done == ["a", "a closed", "b", "b closed", "joined"]

    done.clear()
    flow = tasks.run(parent({"c": 0.01, "d": 5.0}), name="parent")
    await asyncio.sleep(0.03)
    flow.cancel()
    assert done == ["c", "c closed", "d closed"] and len(tasks) == 0
    await tasks.cancel_all()


async def test_flow_lock_hands_over_in_order_and_skips_who_gave_up() -> None:
    """A free lock is taken at once; waiters get it first come first served, quitters skipped."""
    tasks = TaskSet()
    lock = FlowLock()
    held: list[str] = []

    def hold(name: str, seconds: float) -> Steps[None]:
        held.append(name)
        yield seconds

    def user(name: str, seconds: float) -> Steps[Any]:
        return locked(lock, hold(name, seconds))

    first = tasks.run(user("first", 0.02), name="first")
    quitter = tasks.run(user("quitter", 0.01), name="quitter")
    tasks.run(user("second", 0.01), name="second")
    await _turns()
    assert held == ["first"]  # the others wait their turn
    quitter.cancel()
    await asyncio.sleep(0.05)
    assert held == ["first", "second"] and first.finished

    holder = tasks.run(user("holder", 5.0), name="holder")
    tasks.run(user("next", 0.0), name="next")
    await _turns()
    holder.cancel()  # a cancelled holder gives the lock back
    await _turns()
    assert held == ["first", "second", "holder", "next"]
    await tasks.cancel_all()


async def test_cancel_all_stops_flows_and_pending_calls() -> None:
    """After `cancel_all` no flow steps and no `later` call made before it runs."""
    tasks = TaskSet()
    calls: list[str] = []

    def body() -> Steps[None]:
        yield 0.01
        calls.append("flow")

    tasks.run(body(), name="flow")
    tasks.later(0.01, calls.append, "later")
    await tasks.cancel_all()
    await asyncio.sleep(0.03)
    assert calls == [] and len(tasks) == 0
