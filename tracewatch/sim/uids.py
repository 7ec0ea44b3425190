"""Object uids as the real API server makes them: random v4 UUID strings."""

from __future__ import annotations

import os
import random

_UID_RNG = random.Random()
_UID_BITS = _UID_RNG.getrandbits
"""uids are random v4 UUIDs as on the real server, from a generator seeded from the OS (again
in a forked child): not the simulation's seeded rng (a restarted cluster must never reuse a
uid) and much cheaper than uuid4(), which reads the OS's random source on every call."""
os.register_at_fork(after_in_child=_UID_RNG.seed)
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_uid() -> str:
    """A random v4 UUID string, as `str(uuid.UUID(int=bits, version=4))` formats it."""
    h = "%032x" % (_UID_BITS(128) & _UUID4_CLEAR | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
