"""A sub-account may not be called `wholesale`: a close keeps the agency's wholesale invoice of
a period under that name beside its sub-accounts' invoices, so such a client's close would
collide with it. The catalog says so at the id, before anything is applied."""

from __future__ import annotations

import copy

import pytest

from rebill.demo.data import demo_catalog
from rebill.domain.errors import ValidationError
from rebill.domain.period import Period
from rebill.services.catalog.apply import parse_catalog


def test_a_sub_account_named_wholesale_is_refused_at_its_id() -> None:
    document = copy.deepcopy(demo_catalog(Period(2026, 10)))
    parse_catalog(document, "catalog.yaml")  # the demo itself is fine
    document["agencies"][0]["sub_accounts"][1]["id"] = "wholesale"
    with pytest.raises(ValidationError) as refused:
        parse_catalog(document, "catalog.yaml")
    (error,) = refused.value.field_errors
    assert "agencies[0].sub_accounts[1].id" in str(error)
    assert "reserved" in error.message
