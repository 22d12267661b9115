"""Countries (ISO 3166-1 alpha-2, the officially assigned codes) and the member states of the
European Union, for the buyer's tax identity (docs/tax.md)."""

from __future__ import annotations

ISO_3166_ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - a table of codes reads better than 249 strings
)
EU_MEMBER_STATES = frozenset(
    """
    AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK
    """.split()  # noqa: SIM905 - a table of codes reads better than 249 strings
)
# VAT numbers carry their member state's code; Greece's is "EL" (python-stdnum also reads
# "GR"). "XI" (Northern Ireland, for goods) is not a member state for these services.
VAT_PREFIX_COUNTRY = {**{c: c for c in EU_MEMBER_STATES}, "EL": "GR"}


def is_country(code: str) -> bool:
    """Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case)."""
    return code in ISO_3166_ALPHA2


def is_eu(country: str | None) -> bool:
    return country in EU_MEMBER_STATES


def vat_country(vat_id: str) -> str | None:
    """The member state an EU VAT number (compact, with its prefix) was issued by."""
    return VAT_PREFIX_COUNTRY.get(vat_id[:2].upper())
