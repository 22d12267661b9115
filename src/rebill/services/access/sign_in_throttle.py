"""Throttling of sign-in attempts, per account (the e-mail asked for, known or not, so that the
answer tells nothing about which exist) and per client address, kept in the database so that
every server process counts the same attempts.

An attempt is counted as a failure before its password is checked, so parallel guesses cannot
slip past the count while their hashes compute; a right password then clears the account's
count and gives its attempt back to the address. While either record waits, an attempt is
refused with `TooManyAttemptsError` before any hash is computed, and changes nothing."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from rebill.domain.backoff import Backoff
from rebill.domain.errors import TooManyAttemptsError
from rebill.services.ports import SignInThrottleRepository, ThrottleCount, UnitOfWorkFactory

# 5 free failures per account, then 1 s, 2 s, 4 s ... up to 15 minutes between attempts.
ACCOUNT = Backoff(failures_max=5, delay_seconds_first=1, delay_seconds_max=900, forget_seconds=3600)
# 20 free failures per address (an office behind one NAT), then the same doubling.
ADDRESS = Backoff(
    failures_max=20, delay_seconds_first=1, delay_seconds_max=900, forget_seconds=3600
)
POLICIES = {"account": ACCOUNT, "address": ADDRESS}
key_length_max = 1_000  # longer input is cut before hashing (the form allows any length)


def _records(email: str, address: str) -> list[tuple[str, str]]:
    """(kind, key SHA-256) of the attempt's records, accounts first: one lock order for all."""
    return [
        ("account", _sha256(email.strip().lower())),
        ("address", _sha256(address)),
    ]


def _sha256(text: str) -> str:
    return hashlib.sha256(text[:key_length_max].encode()).hexdigest()


def begin_attempt(uow_factory: UnitOfWorkFactory, email: str, address: str, now: datetime) -> None:
    """Count an attempt as a failure of both the account and the address, or raise
    TooManyAttemptsError (with the longer of their waits) and count nothing."""
    records = _records(email, address)
    with uow_factory() as uow:
        throttle = uow.platform.sign_in_throttle
        counts = []
        retry_after_seconds = 0
        for kind, key in records:
            policy = POLICIES[kind]
            found = throttle.lock(kind, key, now)
            failures, last_failure_at = found.failures, found.last_failure_at
            wait = policy.retry_after_seconds(failures, last_failure_at, now)
            retry_after_seconds = max(retry_after_seconds, wait)
            counts.append((kind, key, policy.current_failures(failures, last_failure_at, now)))
        if retry_after_seconds > 0:
            raise TooManyAttemptsError(retry_after_seconds)  # rolled back: nothing changes
        for kind, key, failures in counts:
            throttle.save(kind, key, ThrottleCount(failures + 1, now))
        forget_seconds = max(p.forget_seconds for p in POLICIES.values())
        throttle.delete_before(now - timedelta(seconds=forget_seconds))
        uow.commit()


def record_success(
    throttle: SignInThrottleRepository, email: str, address: str, now: datetime
) -> None:
    """The password was right: the account starts over, the address gets its attempt back
    (in the caller's unit of work)."""
    (account_kind, account_key), (address_kind, address_key) = _records(email, address)
    throttle.lock(account_kind, account_key, now)
    throttle.save(account_kind, account_key, ThrottleCount(0, now))
    _give_back(throttle, address_kind, address_key, now)


def record_unchecked(
    throttle: SignInThrottleRepository, email: str, address: str, now: datetime
) -> None:
    """The password could not be checked (the server was busy): the attempt does not count."""
    for kind, key in _records(email, address):
        _give_back(throttle, kind, key, now)


def _give_back(throttle: SignInThrottleRepository, kind: str, key: str, now: datetime) -> None:
    found = throttle.lock(kind, key, now)
    throttle.save(kind, key, ThrottleCount(found.failures - 1, found.last_failure_at))
