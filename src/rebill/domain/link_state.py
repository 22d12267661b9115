"""Connect link states: the `state` that onboarding (Account Link) and OAuth URLs carry, so that
Stripe's redirect back to rebill names the agency without letting a visitor choose it.

A state is `{agency}.{purpose}.{binding}.{expires}.{nonce}.{mac}`:
- `purpose` is one of PURPOSES: a state made for one return URL is refused by the others;
- `binding` is `s` (the panel session that started the flow) or `o` (the operator, through the
  CLI). The session is not written in the state: its SHA-256 is signed with the rest, so only
  the browser holding that session's cookie presents a state that verifies;
- `expires` is a Unix time; `nonce` is random, recorded by the services when the state is
  used, so that each state works once;
- `mac` is HMAC-SHA256 of all of it under a key derived from the platform's secret
  (REBILL_SECRET_KEY, never the Stripe key), base64url.

Signing and reading are pure; recording the nonce is `services.link_state`'s job."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.text import is_digits

PURPOSE_ONBOARD_RETURN = "onboard-return"
PURPOSE_ONBOARD_REFRESH = "onboard-refresh"
PURPOSE_OAUTH = "oauth"
PURPOSES = (PURPOSE_ONBOARD_RETURN, PURPOSE_ONBOARD_REFRESH, PURPOSE_OAUTH)
# How long a state is accepted. OAuth happens in one sitting; onboarding on Stripe takes
# longer, and its refresh URL hands out a fresh Account Link with fresh states.
STATE_TTL = {
    PURPOSE_ONBOARD_RETURN: timedelta(hours=1),
    PURPOSE_ONBOARD_REFRESH: timedelta(hours=1),
    PURPOSE_OAUTH: timedelta(minutes=30),
}
BOUND_TO_SESSION = "s"
BOUND_TO_OPERATOR = "o"
state_length_max = 200  # what the return routes accept; a state is at most about 160
_KEY_LABEL = b"rebill/connect-link-state/v1"
_FIELDS = 6


@dataclass(frozen=True)
class LinkState:
    agency_id: str
    purpose: str
    session_bound: bool
    expires_at: datetime
    nonce: str


def sign_state(secret: str, state: LinkState, session_sha256: str | None) -> str:
    """The text of `state`, bound to the session whose token hashes to `session_sha256`
    (None: the operator's)."""
    assert secret, "a link state needs the platform's secret"
    assert state.purpose in PURPOSES, state.purpose
    assert state.session_bound == (session_sha256 is not None)
    assert "." not in state.nonce and state.nonce
    binding = BOUND_TO_SESSION if state.session_bound else BOUND_TO_OPERATOR
    expires = str(int(state.expires_at.timestamp()))
    fields = [state.agency_id, state.purpose, binding, expires, state.nonce]
    return ".".join([*fields, _mac(secret, fields, session_sha256)])


def read_state(
    secret: str, text: str, purpose: str, session_sha256: str | None, now: datetime
) -> LinkState:
    """The state in `text` if rebill made it for `purpose`, for this session (or the
    operator), and it has not expired; ValidationError (field `state`) otherwise."""
    parts = text.rsplit(".", _FIELDS - 1)
    if len(parts) != _FIELDS or not secret or len(text) > state_length_max:
        raise _refused("the link is not one rebill made (bad signature)")
    agency_id, stated_purpose, binding, expires, nonce, mac = parts
    if binding not in (BOUND_TO_SESSION, BOUND_TO_OPERATOR) or not is_digits(expires):
        raise _refused("the link is not one rebill made (bad signature)")
    if binding == BOUND_TO_SESSION and session_sha256 is None:
        raise _refused(
            "sign in to the panel in the browser that started this: a link from the panel "
            "works only in the session that started it"
        )
    bound = session_sha256 if binding == BOUND_TO_SESSION else None
    expected = _mac(secret, parts[:-1], bound)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        if binding == BOUND_TO_SESSION:
            raise _refused(
                "the link is not one rebill made for this session (a link from the panel "
                "works only in the browser session that started it): start again from the panel"
            )
        raise _refused("the link is not one rebill made (bad signature)")
    if stated_purpose != purpose:
        raise _refused(f"the link is for {stated_purpose}, not {purpose}")
    expires_at = datetime.fromtimestamp(int(expires), UTC)
    if expires_at <= now:
        raise _refused("the link has expired: start again from the panel")
    return LinkState(agency_id, stated_purpose, binding == BOUND_TO_SESSION, expires_at, nonce)


def _mac(secret: str, fields: list[str], session_sha256: str | None) -> str:
    # A key of its own, derived from the platform's secret: nothing else signs with it.
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    message = json.dumps([*fields, session_sha256 or ""], separators=(",", ":")).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _refused(message: str) -> ValidationError:
    return ValidationError([FieldError("state", message, "state")], "invalid link")
