"""Registry: a local key -> process store with unique or duplicate keys (Elixir's Registry).

Only the calling process can register itself (as in Elixir, to rule out races). Entries
disappear when their process exits: the registry hooks each registering process's exit and
drops its entries before the process's links and monitors fire, so a lookup never returns a
process that has already signalled its death. (Elixir removes them a moment later, from the
partition process; here removal is synchronous.)

Partitions: duplicate registries split entries by pid, unique ones by key, over
``partitions`` tables; :meth:`Registry.dispatch` calls its callback once per partition that
has entries, which is the shape pubsub shards build on.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any, Literal

from . import _process
from ._process import DEAD, EXITING, ExitHook, Process, add_exit_hook, deliver, remove_exit_hook
from ._types import AlreadyRegisteredError, NotInProcessError, Pid

Entry = tuple[Pid, Any]


def _caller(what: str) -> Process:
    proc = _process.current()
    if proc is None or proc.status is DEAD or proc.status is EXITING:
        raise NotInProcessError(f"Registry.{what} must be called from inside a process")
    return proc


class Registry(ExitHook):
    """A key -> process registry local to this node.

    Args:
        keys: ``"unique"`` (a key maps to at most one process) or ``"duplicate"`` (a key maps
            to any number of entries, even several from one process).
        partitions: how many tables entries are spread over (Elixir's ``partitions``).
    """

    def __init__(self, keys: Literal["unique", "duplicate"], *, partitions: int = 1) -> None:
        if keys not in ("unique", "duplicate"):
            raise ValueError(f'keys must be "unique" or "duplicate", not {keys!r}')
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be a positive int, not {partitions!r}")
        self.keys_kind = keys
        self.partitions = partitions
        # partition -> key -> pid -> values (unique registries hold exactly one value)
        self._tables: list[dict[Hashable, dict[Pid, list[Any]]]] = [{} for _ in range(partitions)]
        # pid -> key -> number of entries: for cleanup on exit and for keys(pid)
        self._owned: dict[Pid, dict[Hashable, int]] = {}
        self._meta: dict[Hashable, Any] = {}

    def __repr__(self) -> str:
        return f"<Registry {self.keys_kind} partitions={self.partitions} entries={self.count()}>"

    # -- partitioning -----------------------------------------------------------------------

    def _table(self, key: Hashable, pid: Pid) -> dict[Hashable, dict[Pid, list[Any]]]:
        if self.partitions == 1:
            return self._tables[0]
        if self.keys_kind == "unique":
            return self._tables[hash(key) % self.partitions]
        return self._tables[pid.number % self.partitions]

    def _tables_for(self, key: Hashable) -> Iterator[dict[Hashable, dict[Pid, list[Any]]]]:
        if self.keys_kind == "unique" and self.partitions > 1:
            yield self._tables[hash(key) % self.partitions]
        else:
            yield from self._tables

    # -- registering ------------------------------------------------------------------------

    def register(self, key: Hashable, value: Any = None) -> None:
        """Register the calling process under ``key`` with ``value``.

        A unique registry raises :class:`AlreadyRegisteredError` if ``key`` is held, even by
        the caller itself.
        """
        proc = _caller("register()")
        pid = proc.pid
        table = self._table(key, pid)
        entries = table.get(key)
        if self.keys_kind == "unique":
            if entries:
                raise AlreadyRegisteredError(key, next(iter(entries)))
            table[key] = {pid: [value]}
        elif entries is None:
            table[key] = {pid: [value]}
        else:
            entries.setdefault(pid, []).append(value)
        owned = self._owned.get(pid)
        if owned is None:
            owned = self._owned[pid] = {}
            add_exit_hook(proc, self)  # entries go when the process does
        owned[key] = owned.get(key, 0) + 1

    def unregister(self, key: Hashable) -> None:
        """Remove every entry of the calling process under ``key`` (no error if none)."""
        self._remove(_caller("unregister()").pid, key, None)

    def unregister_match(self, key: Hashable, predicate: Callable[[Any], bool]) -> None:
        """Remove the calling process's entries under ``key`` whose value matches."""
        self._remove(_caller("unregister_match()").pid, key, predicate)

    def _remove(self, pid: Pid, key: Hashable, predicate: Callable[[Any], bool] | None) -> None:
        table = self._table(key, pid)
        entries = table.get(key)
        if not entries or pid not in entries:
            return
        values = entries[pid]
        kept = [] if predicate is None else [v for v in values if not predicate(v)]
        removed = len(values) - len(kept)
        if kept:
            entries[pid] = kept
        else:
            del entries[pid]
            if not entries:
                del table[key]
        owned = self._owned[pid]
        left = owned[key] - removed
        if left:
            owned[key] = left
        else:
            del owned[key]
            if not owned:
                self._forget(pid)

    def _forget(self, pid: Pid) -> None:
        del self._owned[pid]
        proc = pid._proc
        if proc is not None:
            remove_exit_hook(proc, self)

    def process_exited(self, pid: Pid, reason: Any) -> None:
        owned = self._owned.pop(pid, None)
        if owned is None:
            return
        for key in owned:
            table = self._table(key, pid)
            entries = table.get(key)
            if entries is not None:
                entries.pop(pid, None)
                if not entries:
                    del table[key]

    def update_value(self, key: Hashable, update: Callable[[Any], Any]) -> tuple[Any, Any] | None:
        """Unique registries: replace the caller's value under ``key`` with ``update(old)``.

        Returns ``(new, old)``, or None if the caller does not hold ``key``.
        """
        if self.keys_kind != "unique":
            raise TypeError("update_value is only for unique registries")
        pid = _caller("update_value()").pid
        entries = self._table(key, pid).get(key)
        if not entries or pid not in entries:
            return None
        old = entries[pid][0]
        new = update(old)
        entries[pid][0] = new
        return new, old

    # -- reading ----------------------------------------------------------------------------

    def lookup(self, key: Hashable) -> list[Entry]:
        """Every ``(pid, value)`` registered under ``key``."""
        return [
            (pid, value)
            for table in self._tables_for(key)
            for pid, values in table.get(key, {}).items()
            for value in values
        ]

    def whereis(self, key: Hashable) -> Pid | None:
        """Unique registries: the pid holding ``key``, or None (Elixir's ``whereis_name``)."""
        if self.keys_kind != "unique":
            raise TypeError("whereis is only for unique registries")
        for table in self._tables_for(key):
            entries = table.get(key)
            if entries:
                return next(iter(entries))
        return None

    def send(self, key: Hashable, message: Any) -> None:
        """Unique registries: send to the process holding ``key`` (``{:via, Registry, ...}``).

        Raises ``LookupError`` if nobody holds it, as a send to an unknown name does.
        """
        pid = self.whereis(key)
        if pid is None or pid._proc is None:
            raise LookupError(f"no process is registered under {key!r} in {self!r}")
        deliver(pid._proc, message)

    def match(self, key: Hashable, predicate: Callable[[Any], bool]) -> list[Entry]:
        """The ``(pid, value)`` entries under ``key`` whose value satisfies ``predicate``."""
        return [(pid, value) for pid, value in self.lookup(key) if predicate(value)]

    def dispatch(self, key: Hashable, callback: Callable[[list[Entry]], Any]) -> None:
        """Call ``callback(entries)`` once per partition that has entries for ``key``.

        Runs in the caller, as Elixir's ``dispatch/3``; not called at all if nobody is
        registered under ``key``.
        """
        for table in self._tables_for(key):
            entries = table.get(key)
            if entries:
                callback([(pid, value) for pid, values in entries.items() for value in values])

    def keys(self, pid: Pid) -> list[Hashable]:
        """The keys ``pid`` is registered under (each once)."""
        return list(self._owned.get(pid, ()))

    def values(self, key: Hashable, pid: Pid) -> list[Any]:
        """The values ``pid`` registered under ``key``."""
        return list(self._table(key, pid).get(key, {}).get(pid, ()))

    def count(self) -> int:
        """The number of entries in the registry."""
        return sum(sum(owned.values()) for owned in self._owned.values())

    def count_key(self, key: Hashable) -> int:
        """The number of entries under ``key``."""
        return sum(
            len(values) for table in self._tables_for(key) for values in table.get(key, {}).values()
        )

    def count_match(self, key: Hashable, predicate: Callable[[Any], bool]) -> int:
        """The number of entries under ``key`` whose value satisfies ``predicate``."""
        return len(self.match(key, predicate))

    # -- metadata ---------------------------------------------------------------------------

    def meta(self, key: Hashable) -> Any:
        """Registry-wide metadata stored with :meth:`put_meta` (KeyError if absent)."""
        return self._meta[key]

    def put_meta(self, key: Hashable, value: Any) -> None:
        """Store registry-wide metadata."""
        self._meta[key] = value
