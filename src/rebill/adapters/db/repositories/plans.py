"""The agency's plans (with their retail voice rates) and each sub-account's plan history.

A plan's earlier terms, kept for the clients on them when it changed "from the next period"
or for "new clients only", are hidden rows of `plans` (`version_of` the plan, keyed `~n`):
the histories point at them, the plan list does not show them, and their Plan keeps the
plan's id (with `version` set), so every reader sees the client on the same plan."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, func, select

from rebill.adapters.db.read_cache import cached
from rebill.adapters.db.repositories.common import (
    AgencyBound,
    table_of,
    voice_columns,
    voice_rate,
)
from rebill.adapters.db.rows import PlanRow, PlanVoiceRateRow, SubscriptionRow
from rebill.domain.charges import PlanChange
from rebill.domain.plan import Limits, Plan
from rebill.domain.rating import VoiceRate

NO_LIMIT = -1  # how an unset plan limit is stored


VERSION_PREFIX = "~"  # hidden versions' keys: never a plan id (ids start with [a-z0-9])
_subscriptions = table_of(SubscriptionRow)


def _plan(row: PlanRow, voice: dict[str, VoiceRate]) -> Plan:
    return Plan(
        id=row.version_of or row.id,
        name=row.name,
        monthly_fee_micros=row.monthly_fee_micros,
        included_minutes=row.included_minutes,
        overage=row.overage,
        voice=voice,
        included_numbers=row.included_numbers,
        number_monthly_micros={
            "local": row.local_monthly_micros,
            "toll_free": row.toll_free_monthly_micros,
        },
        limits=Limits(row.limit_campaigns, row.limit_numbers, row.limit_parallel_calls),
        version=row.version if row.version_of else None,
    )


def _stored_limit(limit: int | None) -> int:
    return limit if limit is not None else NO_LIMIT


class SqlPlanRepository(AgencyBound):
    def save(self, plan: Plan) -> None:
        self.session.merge(
            PlanRow(
                agency_id=self.agency_id,
                id=plan.id,
                name=plan.name,
                monthly_fee_micros=plan.monthly_fee_micros,
                included_minutes=plan.included_minutes,
                overage=plan.overage,
                included_numbers=plan.included_numbers,
                local_monthly_micros=plan.number_monthly_micros.get("local", 0),
                toll_free_monthly_micros=plan.number_monthly_micros.get("toll_free", 0),
                limit_campaigns=_stored_limit(plan.limits.campaigns),
                limit_numbers=_stored_limit(plan.limits.numbers),
                limit_parallel_calls=_stored_limit(plan.limits.parallel_calls),
            )
        )
        self.session.flush()
        for direction, rate in plan.voice.items():
            self.session.merge(
                PlanVoiceRateRow(
                    agency_id=self.agency_id,
                    plan_id=plan.id,
                    direction=direction,
                    **voice_columns(rate),
                )
            )

    def all(self, ids: set[str] | None = None) -> dict[str, Plan]:
        every = cached(self.session, ("plans", self.agency_id), self._stored)[0]
        if ids is None:
            return dict(every)
        return {plan_id: plan for plan_id, plan in every.items() if plan_id in ids}

    def _stored(self) -> tuple[dict[str, Plan], dict[str, Plan]]:
        """(the plans by id, every stored row by its key: the plans and their versions)."""
        voice: dict[str, dict[str, VoiceRate]] = defaultdict(dict)
        vquery = select(PlanVoiceRateRow).where(PlanVoiceRateRow.agency_id == self.agency_id)
        pquery = select(PlanRow).where(PlanRow.agency_id == self.agency_id)
        for vrow in self.session.scalars(vquery):
            voice[vrow.plan_id][vrow.direction] = voice_rate(vrow)
        stored = {row.id: _plan(row, voice[row.id]) for row in self.session.scalars(pquery)}
        plans = {key: plan for key, plan in stored.items() if plan.version is None}
        return plans, stored

    def history(
        self, plans: dict[str, Plan], sub_account_ids: set[str] | None = None
    ) -> dict[str, list[PlanChange]]:
        """Each sub-account's plan changes in order (of the plans given; through the read
        cache, of the agency's plans as stored, which are the same)."""
        every = cached(
            self.session,
            ("histories", self.agency_id),
            lambda: self._history(cached(self.session, ("plans", self.agency_id), self._stored)[1]),
        )
        history: dict[str, list[PlanChange]] = defaultdict(list)
        for sub_id, changes in every.items():
            if sub_account_ids is None or sub_id in sub_account_ids:
                history[sub_id] = list(changes)
        return history

    def _history(self, stored: dict[str, Plan]) -> dict[str, list[PlanChange]]:
        """Every sub-account's history, `stored` being every plan row by its key."""
        history: dict[str, list[PlanChange]] = defaultdict(list)
        s = _subscriptions.c  # rows, not ORM instances: the close reads every sub-account's
        query = select(s.sub_account_id, s.effective_at, s.plan_id, s.change).where(
            s.agency_id == self.agency_id
        )
        rows = self.session.execute(query.order_by(s.sub_account_id, s.effective_at)).all()
        for sub_id, effective_at, plan_id, change in rows:
            history[sub_id].append(PlanChange(effective_at, stored[plan_id], change))
        return history

    def history_of(self, sub_account_id: str) -> list[PlanChange]:
        """The authorization path reads this for every call: one query, or none (cached)."""
        key = ("history_of", self.agency_id, sub_account_id)
        return list(cached(self.session, key, lambda: self._history_of(sub_account_id)))

    def _history_of(self, sub_account_id: str) -> list[PlanChange]:
        query = (
            select(SubscriptionRow, PlanRow, PlanVoiceRateRow)
            .join(
                PlanRow,
                and_(
                    PlanRow.agency_id == SubscriptionRow.agency_id,
                    PlanRow.id == SubscriptionRow.plan_id,
                ),
            )
            .outerjoin(
                PlanVoiceRateRow,
                and_(
                    PlanVoiceRateRow.agency_id == PlanRow.agency_id,
                    PlanVoiceRateRow.plan_id == PlanRow.id,
                ),
            )
            .where(
                SubscriptionRow.agency_id == self.agency_id,
                SubscriptionRow.sub_account_id == sub_account_id,
            )
            .order_by(SubscriptionRow.effective_at)
        )
        changes: dict[datetime, tuple[SubscriptionRow, PlanRow]] = {}
        voice: dict[str, dict[str, VoiceRate]] = defaultdict(dict)
        for change, plan_row, rate in self.session.execute(query).tuples():
            changes[change.effective_at] = (change, plan_row)
            if rate is not None:
                voice[plan_row.id][rate.direction] = voice_rate(rate)
        plans = {
            plan_row.id: _plan(plan_row, voice[plan_row.id]) for _, plan_row in changes.values()
        }  # by key: a plan or one of its versions
        return [
            PlanChange(change.effective_at, plans[plan_row.id], change.change)
            for change, plan_row in changes.values()
        ]

    def add_change(self, sub_account_id: str, change: PlanChange, now: datetime) -> None:
        self.session.add(
            SubscriptionRow(
                agency_id=self.agency_id,
                sub_account_id=sub_account_id,
                effective_at=change.effective_at,
                plan_id=change.plan.id,
                change=change.change,
                recorded_at=now,
            )
        )
        self.session.flush()

    def drop_changes_after(self, sub_account_id: str, after: datetime) -> None:
        for row in self.session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.agency_id == self.agency_id,
                SubscriptionRow.sub_account_id == sub_account_id,
                SubscriptionRow.effective_at > after,
            )
        ):
            self.session.delete(row)
        self.session.flush()

    def keep_terms(self, plan_id: str, for_whom: str, start: datetime, now: datetime) -> int:
        """Before plan `plan_id`'s stored terms change: keep them as its next earlier version
        for the clients on them, `for_whom` being `next_period` (they keep them until `start`,
        the next period's first instant, then take the plan's terms) or `new_clients` (they
        keep them until moved). Returns how many clients keep them (0: nothing is kept)."""
        rows = list(
            self.session.scalars(
                select(SubscriptionRow).where(
                    SubscriptionRow.agency_id == self.agency_id,
                    SubscriptionRow.plan_id == plan_id,
                )
            )
        )
        if for_whom == "next_period":
            rows = [row for row in rows if row.effective_at < start]
        if not rows:
            return 0
        plan_row = self.session.get(PlanRow, (self.agency_id, plan_id))
        assert plan_row is not None, f"plan {plan_id!r} is stored"
        versions = self.session.scalar(
            select(func.count()).where(
                PlanRow.agency_id == self.agency_id, PlanRow.version_of.is_not(None)
            )
        )
        earlier = self.session.scalar(
            select(func.max(PlanRow.version)).where(
                PlanRow.agency_id == self.agency_id, PlanRow.version_of == plan_id
            )
        )
        key = f"{VERSION_PREFIX}{(versions or 0) + 1}"
        kept = {c.key: getattr(plan_row, c.key) for c in PlanRow.__table__.columns}
        kept |= {
            "id": key,
            "version_of": plan_id,
            "version": (earlier or 0) + 1,
            "superseded_at": start if for_whom == "next_period" else now,
        }
        self.session.add(PlanRow(**kept))
        for rate in self.session.scalars(
            select(PlanVoiceRateRow).where(
                PlanVoiceRateRow.agency_id == self.agency_id, PlanVoiceRateRow.plan_id == plan_id
            )
        ):
            columns = {c.key: getattr(rate, c.key) for c in PlanVoiceRateRow.__table__.columns}
            self.session.add(PlanVoiceRateRow(**(columns | {"plan_id": key})))
        self.session.flush()
        clients = {row.sub_account_id for row in rows}
        for row in rows:
            row.plan_id = key
        self.session.flush()
        keeping = 0
        for sub_id in sorted(clients):
            changes = list(
                self.session.scalars(
                    select(SubscriptionRow)
                    .where(
                        SubscriptionRow.agency_id == self.agency_id,
                        SubscriptionRow.sub_account_id == sub_id,
                    )
                    .order_by(SubscriptionRow.effective_at)
                )
            )
            current = [c for c in changes if c.effective_at <= now] or changes[:1]
            if current[-1].plan_id == key or any(
                c.effective_at > now and c.plan_id == key for c in changes
            ):
                keeping += 1
            before = [c for c in changes if c.effective_at < start]
            if for_whom == "next_period" and before[-1].plan_id == key and before == changes:
                # The plan's terms from the next period on (charging nothing at once).
                self.session.add(
                    SubscriptionRow(
                        agency_id=self.agency_id,
                        sub_account_id=sub_id,
                        effective_at=start,
                        plan_id=plan_id,
                        change="version",
                        recorded_at=now,
                    )
                )
        self.session.flush()
        return keeping
