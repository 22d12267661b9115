"""Single-use Connect link states (the rules are in `domain.link_state`): issue one when an
agency user (or the operator) starts onboarding or OAuth, and accept it once when Stripe sends
the browser back. Accepting checks the signature, the purpose, the session and the expiry,
then records the nonce as used in its own committed transaction before anything else happens,
so that a replay, even a concurrent one, is refused.

The signing secret is REBILL_SECRET_KEY; when that is unset, rebill generates one on first use
and stores it in the database, so every server process on that database shares it."""

from __future__ import annotations

import secrets
from datetime import datetime

from rebill.domain.errors import ConflictError
from rebill.domain.link_state import STATE_TTL, LinkState, read_state, sign_state
from rebill.services.ports import UnitOfWorkFactory

generated_secret_bytes = 32
nonce_bytes = 16


def signing_secret(uow_factory: UnitOfWorkFactory, configured: str, now: datetime) -> str:
    """REBILL_SECRET_KEY, or the one generated for this database."""
    if configured:
        return configured
    uow = uow_factory()
    with uow:
        candidate = secrets.token_urlsafe(generated_secret_bytes)
        secret = uow.platform.gateway.link_state_secret(candidate, now)
        uow.commit()
    return secret


def new_nonce() -> str:
    return secrets.token_urlsafe(nonce_bytes)


def issue_state(
    uow_factory: UnitOfWorkFactory,
    configured_secret: str,
    agency_id: str,
    purpose: str,
    session_sha256: str | None,
    now: datetime,
    nonce: str | None = None,
) -> str:
    """A state for `purpose`, bound to the panel session whose token hashes to
    `session_sha256` (None: the operator started it from the CLI). States sharing a `nonce`
    are used up together (an Account Link's refresh and return URLs)."""
    state = LinkState(
        agency_id,
        purpose,
        session_sha256 is not None,
        now + STATE_TTL[purpose],
        nonce or new_nonce(),
    )
    secret = signing_secret(uow_factory, configured_secret, now)
    return sign_state(secret, state, session_sha256)


def accept_state(
    uow_factory: UnitOfWorkFactory,
    configured_secret: str,
    text: str,
    purpose: str,
    session_sha256: str | None,
    now: datetime,
) -> LinkState:
    """The state, checked and now used up; ValidationError when it is not valid here (it
    stays usable where it is), ConflictError when it was used before."""
    state = read_state(
        signing_secret(uow_factory, configured_secret, now), text, purpose, session_sha256, now
    )
    uow = uow_factory()
    with uow:
        link_states = uow.for_agency(state.agency_id).link_states
        fresh = link_states.consume(state.nonce, state.purpose, state.expires_at, now)
        if not fresh:
            raise ConflictError(
                "this link was used already (each works once): start again from the panel"
            )
        uow.commit()
    return state
