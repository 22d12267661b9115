"""Price lists: the platform's wholesale card and an agency's retail plans (BILLING_MODEL §5-6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rebill.domain.rating import VoiceRate

NUMBER_TYPES = ("local", "toll_free")
OVERAGE_MODES = ("postpaid", "prepaid")
UNLIMITED = -1


@dataclass(frozen=True)
class Limits:
    """`-1` unlimited, `0` disabled; None means "not set here" (inherit from the plan)."""

    campaigns: int | None = None
    numbers: int | None = None
    parallel_calls: int | None = None

    def over(self, base: Limits) -> Limits:
        """These overrides on top of `base`."""
        return Limits(
            campaigns=self.campaigns if self.campaigns is not None else base.campaigns,
            numbers=self.numbers if self.numbers is not None else base.numbers,
            parallel_calls=(
                self.parallel_calls if self.parallel_calls is not None else base.parallel_calls
            ),
        )


@dataclass(frozen=True)
class WholesaleCard:
    """What the platform charges an agency: voice per direction, numbers per type, a fee."""

    voice: dict[str, VoiceRate]
    number_monthly_micros: dict[str, int]
    agency_monthly_fee_micros: int = 0


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    monthly_fee_micros: int
    included_minutes: int
    overage: str
    voice: dict[str, VoiceRate]
    included_numbers: int
    number_monthly_micros: dict[str, int]
    limits: Limits = field(default_factory=Limits)
    # None: the plan's terms as they are now. k: the k-th earlier terms of plan `id`, kept for
    # the clients that were on them when the plan changed (until the next period, or until
    # moved: "new clients only").
    version: int | None = None

    @property
    def included_seconds(self) -> int:
        return self.included_minutes * 60

    def is_upgrade_from(self, other: Plan) -> bool:
        """A change to a dearer plan is an upgrade (immediate); otherwise a downgrade (next
        period). Equal fees with more minutes also count as an upgrade."""
        if self.monthly_fee_micros != other.monthly_fee_micros:
            return self.monthly_fee_micros > other.monthly_fee_micros
        return self.included_minutes > other.included_minutes
