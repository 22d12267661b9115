"""The agency's campaigns: the open ones of a period (the `period_campaigns` the ingestion
records) and the period's calls summed per sub-account and campaign, in one GROUP BY each."""

from __future__ import annotations

from sqlalchemy import case, func, select

from rebill.adapters.db.repositories.common import AgencyBound
from rebill.adapters.db.rows import CallRow, PeriodCampaignRow
from rebill.services.ports.campaigns import CampaignUsage, OpenCampaigns


class SqlCampaignRepository(AgencyBound):
    def open_campaigns(self, sub_account_id: str, period: str, campaign_id: str) -> OpenCampaigns:
        row = self.session.execute(
            select(
                func.count(),
                func.coalesce(
                    func.sum(case((PeriodCampaignRow.campaign_id == campaign_id, 1), else_=0)), 0
                ),
            ).where(
                PeriodCampaignRow.agency_id == self.agency_id,
                PeriodCampaignRow.sub_account_id == sub_account_id,
                PeriodCampaignRow.period == period,
            )
        ).one()
        return OpenCampaigns(int(row[0]), int(row[1]) > 0)

    def usage_by_campaign(self, period: str) -> list[CampaignUsage]:
        rows = self.session.execute(
            select(
                CallRow.sub_account_id,
                CallRow.campaign_id,
                func.count(),
                func.coalesce(func.sum(CallRow.retail_billable_seconds), 0),
                func.coalesce(func.sum(CallRow.credit_micros + CallRow.postpaid_micros), 0),
                func.coalesce(func.sum(CallRow.wholesale_cost_micros), 0),
            )
            .where(CallRow.agency_id == self.agency_id, CallRow.period == period)
            .group_by(CallRow.sub_account_id, CallRow.campaign_id)
        )
        found = [
            CampaignUsage(str(sub), campaign, int(calls), int(seconds), int(retail), int(cost))
            for sub, campaign, calls, seconds, retail, cost in rows
        ]
        return sorted(found, key=lambda u: (u.sub_account_id, u.campaign_id or "", u.campaign_id))
