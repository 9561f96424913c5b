"""Splitting a fleet between evaluator replicas: `--shard K/N` evaluates the plugins whose name
hashes to K of N. The hash is SHA-256 of the name, so every replica, on any machine and any
Python, agrees on who owns a plugin, and the N shards partition the fleet."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from contracts.codes import Code
from contracts.errors import PluginopsError


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, plugin: str) -> bool:
        digest = hashlib.sha256(plugin.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    index, sep, count = text.partition("/")
    if sep and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count) <= 4096:
        return Shard(int(index), int(count))
    raise PluginopsError(Code.SHARD_INVALID, f"{text[:50]!r} is not a shard", where="--shard",
                         next_step="write K/N with 0 <= K < N, e.g. --shard 0/3")
