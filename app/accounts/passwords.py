"""Password hashing (argon2id) and the slow-down after failed logins."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified when the user doesn't exist, so "unknown user" takes as long as "wrong password".
_DUMMY = _hasher.hash("not a real password")

FREE_ATTEMPTS = 3  # failures before the lock-out starts
MAX_LOCK_S = 300.0


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters")
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def lock_seconds(failures: int, free: int = FREE_ATTEMPTS) -> float:
    """How long logins are refused after `failures` consecutive failures: nothing for the
    first `free - 1`, then doubling (2, 4, 8 … s) up to five minutes."""
    if failures < free:
        return 0.0
    return min(MAX_LOCK_S, 2.0 ** (failures - free + 1))
