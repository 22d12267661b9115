"""The campaign limit (BILLING_MODEL §5 `limits.campaigns`, docs/campaigns.md).

A campaign is *open* in a sub-account's period once a recorded call of that period names it.
A call that names a campaign already open always passes; a call that would open one more than
the limit allows is refused with `campaign_limit`. `-1` (or no limit set) is unlimited; `0`
allows no campaign at all (calls without a campaign still pass)."""

from __future__ import annotations

from rebill.domain.caps import Decision
from rebill.domain.plan import UNLIMITED

# Named after every reason of `caps.REASONS`: a call refused for any of those is refused for
# that reason first (the campaign is only looked at for a call that would otherwise pass).
CAMPAIGN_LIMIT_REASON = "campaign_limit"


def opens_beyond_limit(limit: int | None, open_count: int, already_open: bool) -> bool:
    """Whether a call naming a campaign would open one beyond the limit."""
    if already_open or limit is None or limit == UNLIMITED:
        return False
    return open_count >= limit


def campaign_decision(
    given: Decision, limit: int | None, open_count: int, already_open: bool
) -> Decision:
    """`given` (a decision of `caps.decide`), or `campaign_limit` when it allowed a call that
    would open a campaign beyond the limit."""
    if given.allowed and opens_beyond_limit(limit, open_count, already_open):
        return Decision(False, 0, CAMPAIGN_LIMIT_REASON)
    return given
