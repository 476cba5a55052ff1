"""The per-address slow-down of password logins: one address that fails many logins, over
any number of user names, waits longer and longer before it may try again. In-process and
per replica; the per-account lock (`AccountStore.authenticate`) stays the first line."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from app.accounts.passwords import lock_seconds

ADDRESS_FREE_FAILURES = 10  # failures from one address before it has to wait
FORGET_S = 900.0  # an address with no failure for this long starts afresh
MAX_TRACKED = 10_000  # addresses remembered; the least recently failing go first


def address_key(address: str) -> str:
    """One key per client: an IPv6 client controls its whole /64, so it counts as one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    pending: list[float] = field(default_factory=list)  # start times of unfinished attempts


class AddressThrottle:
    """`attempt` before a password is checked, `finished` with its outcome. An attempt still
    running counts as a failure, so many parallel attempts can't all slip in before the
    first one fails; a success only takes back its own attempt, never earlier failures (a
    sprayer who owns one account can't wipe the slate by using it)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        free: int = ADDRESS_FREE_FAILURES,
        forget_s: float = FORGET_S,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.clock, self.free, self.forget_s, self.max_tracked = clock, free, forget_s, max_tracked
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def retry_after(self, address: str) -> float:
        """Seconds before this address may try again; 0 when it may now."""
        record = self._current(address_key(address))
        if record is None:
            return 0.0
        count = record.failures + len(record.pending)
        since = max([record.last_failure, *record.pending])
        return max(0.0, since + lock_seconds(count, self.free) - self.clock())

    def attempt(self, address: str) -> float:
        """0 when the attempt may go ahead (it is then pending until `finished`), else the
        seconds to wait (nothing is counted)."""
        wait = self.retry_after(address)
        if wait > 0:
            return wait
        key = address_key(address)
        record = self._records.get(key) or _Record()
        record.pending.append(self.clock())
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self.max_tracked:
            self._records.popitem(last=False)
        return 0.0

    def finished(self, address: str, *, failed: bool) -> None:
        record = self._records.get(address_key(address))
        if record is None:  # forgotten to make room meanwhile
            return
        if record.pending:
            record.pending.pop(0)
        if failed:
            record.failures += 1
            record.last_failure = self.clock()

    def _current(self, key: str) -> _Record | None:
        record = self._records.get(key)
        if record is None or record.pending:
            return record
        if self.clock() - record.last_failure > self.forget_s:
            del self._records[key]
            return None
        return record
