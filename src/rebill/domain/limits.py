"""Named limits on money that moves without a person present (TIGER_STYLE: a limit on
everything). A checkout purchase and an automatic top-up share one per-purchase bound."""

from __future__ import annotations

# Bounds of one credit purchase through checkout or an auto top-up, in currency units.
credit_purchase_min_units = 5
credit_purchase_max_units = 1_000
# At most this many automatic top-ups of one sub-account in any 24 hours.
top_ups_per_day_max = 3
