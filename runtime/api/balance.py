"""Even shares of connections among serving processes that accept on one listening socket.

Left to the kernel, whichever process wakes first takes a new connection, and a keep-alive
connection stays with the process that took it: 16 clients can end up 13 on one process and 3 on
the other, which then idles while the first queues (measured: half the throughput). So each
process writes how many connections it holds into its slot of a small file the supervisor made,
and listens for new ones only while it holds no more than the least loaded of the others. The
least loaded process always listens, so a connection is never left waiting for nobody; a process
that ended has its slot marked absent by the supervisor and counts for nothing."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

SLOT = struct.Struct("q")
ABSENT = -1


def create(path: Path, count: int) -> None:
    """A file of `count` slots, every one absent."""
    path.write_bytes(SLOT.pack(ABSENT) * count)


def mark_absent(path: Path, index: int) -> None:
    with path.open("r+b") as file:
        file.seek(index * SLOT.size)
        file.write(SLOT.pack(ABSENT))


class ConnectionShare:
    """Serving process `index`'s view of the slots."""

    def __init__(self, path: Path, index: int) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        self.index = index
        self.count = len(self._map) // SLOT.size
        if not 0 <= index < self.count:
            raise ValueError(f"no slot {index} in {path} ({self.count} slots)")

    def held(self) -> list[int]:
        """Connections held by each process (ABSENT: none serving in that slot)."""
        return [value for (value,) in SLOT.iter_unpack(self._map[:self.count * SLOT.size])]

    def may_accept(self, holding: int) -> bool:
        """Publish that this process holds `holding` connections; whether it should take the
        next one (it is among the least loaded)."""
        SLOT.pack_into(self._map, self.index * SLOT.size, holding)
        others = [n for i, n in enumerate(self.held()) if i != self.index and n != ABSENT]
        return not others or holding <= min(others)
