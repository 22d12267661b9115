"""The agency's admin panel (`/panel/...`): home, gateway and tax checklist, plans and rates,
sub-accounts (chart, caps, credits, numbers, invoices), period close, invoices with PDFs, a
CSV export of usage, users, the brand and its domain, and the audit log. Every read is scoped
by the signed-in user's agency: another agency's objects answer 404."""

from __future__ import annotations

from fastapi import APIRouter

from rebill.entrypoints.web.panel import (
    alerts,
    audit,
    brand,
    gateway,
    home,
    invoices,
    plans,
    sub_accounts,
    users,
)

# In this order (the order the routes were always served in).
ROUTERS: tuple[APIRouter, ...] = (
    home.router,
    gateway.router,
    plans.router,
    sub_accounts.router,
    alerts.router,
    invoices.router,
    users.router,
    brand.router,
    audit.router,
)
