"""The bound agency's campaigns (docs/campaigns.md): which are open in a sub-account's period
(a campaign is open once a recorded call of the period names it) and the period's usage per
sub-account and campaign."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OpenCampaigns:
    """How many campaigns a sub-account has open in a period, and whether one is among them."""

    count: int
    includes_asked: bool


@dataclass(frozen=True)
class CampaignUsage:
    """The calls of a period of one sub-account and campaign (None: calls naming none)."""

    sub_account_id: str
    campaign_id: str | None
    calls: int
    billable_seconds: int
    retail_micros: int  # the calls' overage cost, paid from credits or postpaid
    wholesale_micros: int


class CampaignRepository(Protocol):
    def open_campaigns(self, sub_account_id: str, period: str, campaign_id: str) -> OpenCampaigns:
        """The sub-account's open campaigns in the period, and whether `campaign_id` is one."""
        ...

    def usage_by_campaign(self, period: str) -> list[CampaignUsage]:
        """Every call of the period (its own period, late ones included), summed per
        sub-account and campaign, ordered by sub-account then campaign (None first)."""
        ...
