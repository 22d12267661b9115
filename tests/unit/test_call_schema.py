"""`CallIn.record()` (the API's batch records, issue 13) reads the validated fields directly;
it must give exactly what `model_dump(exclude_none=True)` gives, whatever the record holds:
extra keys, nulls, coerced values, a CloudEvents envelope with its `data`."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rebill.entrypoints.api.schemas import CallIn, CallsIn

FIELDS = (
    "call_id",
    "sub_account",
    "started_at",
    "duration_seconds",
    "direction",
    "campaign_id",
    "phone_number",
    "status",
)
ENVELOPE = ("specversion", "id", "time", "type", "source")
values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=0, max_value=1e4, allow_nan=False).map(float.__round__).map(float),
    st.booleans(),
)


def _records(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from([*names, "extra_key"])
    return st.dictionaries(keys, values, max_size=len(names) + 1)


envelopes = st.tuples(_records(ENVELOPE + FIELDS), st.one_of(st.none(), _records(FIELDS))).map(
    lambda pair: pair[0] | ({} if pair[1] is None else {"data": pair[1]})
)


def _dump(record: dict[str, Any]) -> dict[str, Any] | None:
    try:
        call = CallIn.model_validate(record)
    except ValueError:
        return None
    assert call.record() == call.model_dump(exclude_none=True)
    return call.record()


@settings(deadline=None)  # the first example pays for pydantic's warm-up
@given(st.one_of(_records(FIELDS), envelopes))
def test_record_is_the_model_dump_without_nulls(record: dict[str, Any]) -> None:
    _dump(record)


def test_record_of_typical_and_enveloped_calls() -> None:
    plain = {
        "call_id": "c1",
        "sub_account": "s",
        "started_at": "2026-10-01T00:00:00Z",
        "duration_seconds": 61.0,  # coerced to 61 by the model, as model_dump had it
        "direction": "outbound",
        "campaign_id": None,
        "unknown": {"nested": [1]},
    }
    assert _dump(plain) == {
        "call_id": "c1",
        "sub_account": "s",
        "started_at": "2026-10-01T00:00:00Z",
        "duration_seconds": 61,
        "direction": "outbound",
    }
    event = {"specversion": "1.0", "id": "e1", "data": {"sub_account": "s", "status": None}}
    assert _dump(event) == {"specversion": "1.0", "id": "e1", "data": {"sub_account": "s"}}
    batch = CallsIn.model_validate({"calls": [plain, event]})
    assert [c.record() for c in batch.calls] == [
        c.model_dump(exclude_none=True) for c in batch.calls
    ]
