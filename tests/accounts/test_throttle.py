"""The per-address login slow-down (a pure policy with a test clock) and which proxies'
X-Forwarded-For the app believes."""

from __future__ import annotations

import pytest
from uvicorn.middleware.proxy_headers import _TrustedHosts

from app.accounts.throttle import FORGET_S, AddressThrottle, address_key
from app.config import SettingsError, load_settings
from app.edge.proxies import forwarded_allow_ips


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: AddressThrottle, address: str) -> float:
    """One failed login; what `attempt` said first."""
    wait = throttle.attempt(address)
    if wait == 0:
        throttle.finished(address, failed=True)
    return wait


def spray(throttle: AddressThrottle, address: str, n: int) -> list[float]:
    """n failed logins (different user names: the address is all the policy sees)."""
    return [fail(throttle, address) for _ in range(n)]


def test_a_spray_from_one_address_is_slowed_more_and_more_and_others_are_not():
    clock = Clock()
    throttle = AddressThrottle(clock=clock)
    assert spray(throttle, "198.51.100.7", 10) == [0.0] * 10  # ten free failures
    assert fail(throttle, "198.51.100.7") == pytest.approx(2.0)  # refused, not counted
    assert fail(throttle, "198.51.100.7") == pytest.approx(2.0)
    assert throttle.attempt("203.0.113.9") == 0.0  # another address is not affected
    waits = []
    for _ in range(10):
        clock.now += throttle.retry_after("198.51.100.7")
        assert fail(throttle, "198.51.100.7") == 0.0  # allowed once the wait is over…
        waits.append(throttle.retry_after("198.51.100.7"))  # …and it failed again
    assert waits == [4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_parallel_attempts_count_before_they_finish():
    throttle = AddressThrottle(clock=Clock())
    # Ten logins in flight at once: none has failed yet, the eleventh is refused anyway.
    assert [throttle.attempt("198.51.100.7") for _ in range(10)] == [0.0] * 10
    assert throttle.attempt("198.51.100.7") > 0
    for _ in range(10):
        throttle.finished("198.51.100.7", failed=False)  # they all worked after all
    assert throttle.retry_after("198.51.100.7") == 0.0


def test_a_success_takes_back_its_own_attempt_only():
    clock = Clock()
    throttle = AddressThrottle(clock=clock)
    spray(throttle, "198.51.100.7", 9)
    assert throttle.attempt("198.51.100.7") == 0.0
    clock.now += 1
    throttle.finished("198.51.100.7", failed=False)  # a good login: nine failures remain
    assert fail(throttle, "198.51.100.7") == 0.0  # so the next one is still free
    assert throttle.attempt("198.51.100.7") > 0  # and after it the address waits
    clock.now += 2
    # Once the wait is over, a good login does not lock the address again by itself.
    assert throttle.attempt("198.51.100.7") == 0.0
    throttle.finished("198.51.100.7", failed=False)
    assert throttle.retry_after("198.51.100.7") == 0.0
    throttle.finished("203.0.113.9", failed=False)  # never seen: nothing to take back
    assert throttle.retry_after("203.0.113.9") == 0.0


def test_an_address_that_stops_failing_is_forgotten():
    clock = Clock()
    throttle = AddressThrottle(clock=clock)
    spray(throttle, "198.51.100.7", 10)
    clock.now += FORGET_S + 1
    assert spray(throttle, "198.51.100.7", 10) == [0.0] * 10  # a fresh allowance


def test_memory_is_bounded_least_recent_first():
    throttle = AddressThrottle(clock=Clock(), free=2, max_tracked=3)
    for address in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]:
        spray(throttle, address, 2)
    assert throttle.retry_after("10.0.0.1") == 0.0  # dropped to make room
    assert all(throttle.retry_after(f"10.0.0.{i}") > 0 for i in (2, 3, 4))


def test_an_ipv6_client_counts_once_for_its_whole_64():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:198.51.100.7") == address_key("198.51.100.7")
    throttle = AddressThrottle(clock=Clock())
    for i in range(10):  # a new address from the same /64 for every attempt
        assert fail(throttle, f"2001:db8:1:2::{i + 1:x}") == 0.0
    assert throttle.attempt("2001:db8:1:2::abcd") > 0


def test_forwarded_for_is_believed_only_from_configured_proxies(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("AUTH_MODE", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    assert forwarded_allow_ips(load_settings()) == ""  # local: nobody
    assert forwarded_allow_ips(load_settings(auth_mode="password")) == ""
    assert forwarded_allow_ips(load_settings(auth_mode="header")) == "127.0.0.1,::1"
    explicit = load_settings(auth_mode="password", trusted_proxies=" 10.0.0.5, 10.1.0.0/16 ")
    assert forwarded_allow_ips(explicit) == "10.0.0.5,10.1.0.0/16"
    # A network written with host bits is normalised: uvicorn reads networks strictly and
    # would otherwise trust no proxy at all, so every user would share the proxy's address.
    sloppy = forwarded_allow_ips(load_settings(trusted_proxies="10.0.0.5/24"))
    assert sloppy == "10.0.0.0/24"
    assert "10.0.0.7" in _TrustedHosts(sloppy)
    with pytest.raises(SettingsError) as err:
        load_settings(trusted_proxies="10.0.0.5,proxy.local")
    assert "TRUSTED_PROXIES" in err.value.message and "proxy.local" in err.value.message
