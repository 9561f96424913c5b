"""The open-file budget of a serving process: what a request thread, a connection and a warm
worker each hold, so that the pool is capped to fit the limit rather than failing with "Too many
open files" at the 250th plugin."""

from __future__ import annotations

import resource

BASE = 64  # the process's own: stores, logs, the listening socket, the loop's trigger pipe
PER_THREAD = 12  # a request thread's read-only SQLite connections (database, -wal, -shm each)
PER_CONNECTION = 1  # a client's socket
PER_WORKER = 2  # a warm worker's two pipes (its log is its own)


def raise_soft_limit() -> int:
    """Raise the soft open-file limit to the hard one (as servers do); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY:
        return soft if soft != resource.RLIM_INFINITY else 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def workers_within(limit: int, threads: int, connections: int) -> int:
    """How many warm workers fit beside the threads and connections (at least one).

    >>> workers_within(1024, 16, 256)
    256
    """
    spare = limit - BASE - PER_THREAD * threads - PER_CONNECTION * connections
    return max(1, spare // PER_WORKER)
