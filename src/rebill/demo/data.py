"""The demo data set: a platform, one agency with three plans and a dozen sub-accounts, and a
month of realistic generated calls (seeded, so every run gives the same month)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rebill.domain.period import Period

AGENCY = "acme"
TIMEZONE = "America/New_York"
SUB_ACCOUNTS = [
    # id, name, plan, calls per day, mean call seconds
    ("bright-dental", "Bright Dental", "starter", 14, 150),
    ("harbor-realty", "Harbor Realty", "growth", 80, 170),
    ("summit-hvac", "Summit HVAC", "starter", 10, 120),
    ("lakeside-clinic", "Lakeside Clinic", "growth", 56, 200),
    ("metro-movers", "Metro Movers", "scale", 240, 140),
    ("pine-legal", "Pine Legal", "starter", 8, 260),
    ("coastal-insurance", "Coastal Insurance", "scale", 190, 180),
    ("urban-fitness", "Urban Fitness", "growth", 50, 110),
    ("greenleaf-solar", "Greenleaf Solar", "scale", 300, 160),
    ("northside-auto", "Northside Auto", "starter", 24, 130),
    ("blue-ridge-vet", "Blue Ridge Vet", "growth", 36, 150),
    ("vista-hotels", "Vista Hotels", "scale", 160, 190),
]


def demo_catalog(period: Period) -> dict[str, Any]:
    tz = ZoneInfo(TIMEZONE)
    start = period.start(tz)
    before = period.previous().start(tz).isoformat()
    mid = (start + timedelta(days=14)).isoformat()
    subs = []
    for index, (sub_id, name, plan, _, _) in enumerate(SUB_ACCOUNTS):
        numbers = [
            {"e164": f"+1555{index:03d}{n:04d}", "type": "local", "rented_at": before}
            for n in range(1 + index % 3)
        ]
        if index % 4 == 0:
            numbers.append({"e164": f"+1800{index:03d}0001", "type": "toll_free", "rented_at": mid})
        subs.append(
            {
                "id": sub_id,
                "name": name,
                "email": f"billing@{sub_id}.example",
                "plan": plan,
                "subscribed_at": before,
                "numbers": numbers,
                "caps": {
                    "monthly_spend": "500.00",
                    "alerts": ["0.5", "0.8", "1.0"],
                    "enforcement": "notify",
                },
            }
        )
    return {
        "platform": {
            "name": "Example Voice Platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.090", "increment": "1/1"},
                    "inbound": {"per_minute": "0.070", "increment": "1/1"},
                },
                "numbers": {"local": {"monthly": "1.15"}, "toll_free": {"monthly": "2.15"}},
                "agency_monthly_fee": "99.00",
            },
        },
        "agencies": [
            {
                "id": AGENCY,
                "name": "Acme Voice AI",
                "timezone": TIMEZONE,
                "invoice_prefix": "ACME",
                "tax": {"mode": "none"},
                "plans": [
                    _plan("starter", "Starter", "49.00", 200, "0.25", "0.20", 1),
                    _plan("growth", "Growth", "149.00", 1000, "0.19", "0.15", 2),
                    _plan("scale", "Scale", "399.00", 3000, "0.15", "0.12", 3),
                ],
                "sub_accounts": subs,
            }
        ],
    }


def _plan(
    plan_id: str, name: str, fee: str, minutes: int, outbound: str, inbound: str, numbers: int
) -> dict[str, Any]:
    return {
        "id": plan_id,
        "name": name,
        "monthly_fee": fee,
        "included_minutes": minutes,
        "overage": "postpaid",
        "voice": {
            "outbound": {"overage_per_minute": outbound, "increment": "60/6"},
            "inbound": {"overage_per_minute": inbound, "increment": "60/6"},
        },
        "numbers": {
            "included": numbers,
            "local": {"monthly": "3.00"},
            "toll_free": {"monthly": "5.00"},
        },
        "limits": {"campaigns": 10, "numbers": 10, "parallel_calls": 5},
    }


def demo_calls(period: Period, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Calls in business hours, busier on weekdays, durations skewed like real calls."""
    tz = ZoneInfo(TIMEZONE)
    rng = random.Random(seed)
    start = period.start(tz).astimezone(tz)
    end = period.end(tz)
    day = start
    serial = 0
    while day < end:
        weekday = day.weekday() < 5
        for sub_id, _, _, per_day, mean_seconds in SUB_ACCOUNTS:
            count = int(rng.gauss(per_day if weekday else per_day / 4, per_day / 6))
            for _ in range(max(0, count)):
                serial += 1
                at = day + timedelta(seconds=rng.randint(8 * 3600, 20 * 3600))
                answered = rng.random() > 0.12
                duration = int(rng.expovariate(1 / mean_seconds)) + 5 if answered else 0
                yield {
                    "call_id": f"demo-{serial:07d}",
                    "sub_account": sub_id,
                    "started_at": at.isoformat(),
                    "duration_seconds": duration,
                    "direction": "outbound" if rng.random() < 0.65 else "inbound",
                    "campaign_id": f"{sub_id}-c{rng.randint(1, 3)}",
                    "status": "completed" if answered else "no-answer",
                }
        day = (day + timedelta(days=1, hours=3)).replace(hour=0)
        day = datetime(day.year, day.month, day.day, tzinfo=tz)
