"""Password hashes: scrypt at the cost of OWASP's Password Storage Cheat Sheet (N=2^17, r=8,
p=1: 128 MiB and about half a second per computation), stored as `scrypt$N$r$p$salt$digest` so
that hashes of an older, cheaper cost still verify and are replaced on the next sign-in.

Every computation takes one of a few slots (one per CPU, at most `hash_workers_max`); a burst
waits in a short queue and beyond it is refused at once with `BusyError`, so parallel sign-ins
cannot pile up memory or CPU. `REBILL_SCRYPT_N` lowers the cost for tests only."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rebill.domain.errors import BusyError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
# A stored hash asking for more memory than this is not computed (its cost comes from the
# database, not from this code): 256 MiB, twice the standard cost's.
scrypt_memory_bytes_max = 256 * 2**20
hash_workers_max = 4  # 4 x 128 MiB at most, however many CPUs
hash_waiting_max = 16  # computations queued behind the busy slots before refusing
hash_wait_seconds_max = 10  # a queued computation gives up after this long
busy_retry_after_seconds = 1
salt_bytes = 16
digest_bytes = 32
# Checked against when the e-mail is unknown or disabled, so that both answers take as long.
_DUMMY_SALT = b"rebill-no-such-user"


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int
    p: int

    @property
    def memory_bytes(self) -> int:
        """What OpenSSL's scrypt allocates (and checks `maxmem` against)."""
        return 128 * self.r * (self.n + self.p + 2)

    def problem(self) -> str | None:
        """Why this cost cannot be computed here, or None."""
        if self.n < 2 or self.n & (self.n - 1):
            return f"scrypt N must be a power of two above 1, not {self.n}"
        if self.r < 1 or self.p < 1:
            return "scrypt r and p must be at least 1"
        if self.memory_bytes > scrypt_memory_bytes_max:
            return f"scrypt N={self.n}, r={self.r} needs more than {scrypt_memory_bytes_max} bytes"
        return None

    def weaker_than(self, other: ScryptCost) -> bool:
        return self.n < other.n or self.r < other.r or self.p < other.p


@dataclass(frozen=True)
class Verdict:
    matches: bool
    outdated: bool  # the hash was made at a weaker cost than today's: store a new one


class PasswordHasher:
    """Hashes and checks passwords at one cost, through a bounded pool of computations."""

    def __init__(
        self,
        scrypt_n: int | None = None,
        workers: int | None = None,
        waiting_max: int = hash_waiting_max,
        wait_seconds_max: float = hash_wait_seconds_max,
    ) -> None:
        self.cost = ScryptCost(scrypt_n or SCRYPT_N, SCRYPT_R, SCRYPT_P)
        problem = self.cost.problem()
        if problem:
            raise ValueError(problem)
        self.workers = workers or max(1, min(os.cpu_count() or 1, hash_workers_max))
        assert self.workers >= 1 and waiting_max >= 0
        self.waiting_max = waiting_max
        self.wait_seconds_max = wait_seconds_max
        self.computed_total = 0  # scrypt computations done (tests and metrics)
        self._slots = threading.BoundedSemaphore(self.workers)
        self._lock = threading.Lock()
        self._admitted = 0  # running plus queued

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(salt_bytes)
        digest = self._scrypt(password, salt, self.cost)
        salt_text = base64.b64encode(salt).decode()
        digest_text = base64.b64encode(digest).decode()
        cost = self.cost
        return f"scrypt${cost.n}${cost.r}${cost.p}${salt_text}${digest_text}"

    def verify(self, password: str, stored: str) -> Verdict:
        parsed = _parse(stored)
        if parsed is None:
            return Verdict(False, False)
        cost, salt, digest = parsed
        candidate = self._scrypt(password, salt, cost)
        return Verdict(hmac.compare_digest(candidate, digest), cost.weaker_than(self.cost))

    def waste(self, password: str) -> None:
        """As long as a check at today's cost, for an unknown or disabled user."""
        self._scrypt(password, _DUMMY_SALT, self.cost)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of the pool's slots, waited for in the queue; BusyError when the queue is full
        or the wait too long."""
        with self._lock:
            if self._admitted >= self.workers + self.waiting_max:
                raise BusyError(busy_retry_after_seconds)
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self.wait_seconds_max):
                raise BusyError(busy_retry_after_seconds)
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1

    def _scrypt(self, password: str, salt: bytes, cost: ScryptCost) -> bytes:
        with self.slot():
            digest = hashlib.scrypt(
                password.encode(),
                salt=salt,
                n=cost.n,
                r=cost.r,
                p=cost.p,
                maxmem=cost.memory_bytes,
                dklen=digest_bytes,
            )
            with self._lock:
                self.computed_total += 1
        return digest


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    """(cost, salt, digest) of a stored hash, or None when it is not one this code computes."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        cost = ScryptCost(int(n), int(r), int(p))
        salt_raw = base64.b64decode(salt, validate=True)
        digest_raw = base64.b64decode(digest, validate=True)
    except (ValueError, binascii.Error):
        return None
    if scheme != "scrypt" or cost.problem() or len(digest_raw) != digest_bytes:
        return None
    return cost, salt_raw, digest_raw
