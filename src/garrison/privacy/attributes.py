"""Sensitive attributes and more quasi-identifiers, found from the values (issue 19).

Sensitive attributes are the special categories of personal data (GDPR art. 9) a
release must not disclose about a person: health (blood type; the ICD-10 and condition
detectors live in ``builtin``), religion, ethnicity, trade-union membership, sexual
orientation, and money tied to a person (salary, in ``builtin``). Quasi-identifiers
are the columns that, combined, re-identify people in a release: here the US state,
marital status and race (race is also special-category data; it is reported as a
quasi-identifier because it is published beside age, sex and place and joins with
census tables, which is what the k-anonymity check needs to know).

Each detector is a closed vocabulary plus a column check that asks for the spread a
real column of that kind has, so that an ordinary word column ("single"/"double",
grades A/B) is not taken for one. A US SSN column whose values are only partly
written with separators is found from the values alone (``us_ssn_mixed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from garrison.privacy import validators as v
from garrison.privacy.detectors import ColumnCheck, DetectionContext, PIIDetector, register_detector

__all__ = ["ATTRIBUTE_DETECTOR_IDS"]

_WORDS = r"[A-Za-z][A-Za-z '’/().,&-]{0,60}"  # noqa: RUF001 - the typographic apostrophe
_SPACES = re.compile(r"[\s_]+")

US_STATES = {
    "AL": "alabama", "AK": "alaska", "AZ": "arizona", "AR": "arkansas", "CA": "california",
    "CO": "colorado", "CT": "connecticut", "DE": "delaware", "FL": "florida", "GA": "georgia",
    "HI": "hawaii", "ID": "idaho", "IL": "illinois", "IN": "indiana", "IA": "iowa",
    "KS": "kansas", "KY": "kentucky", "LA": "louisiana", "ME": "maine", "MD": "maryland",
    "MA": "massachusetts", "MI": "michigan", "MN": "minnesota", "MS": "mississippi",
    "MO": "missouri", "MT": "montana", "NE": "nebraska", "NV": "nevada",
    "NH": "new hampshire", "NJ": "new jersey", "NM": "new mexico", "NY": "new york",
    "NC": "north carolina", "ND": "north dakota", "OH": "ohio", "OK": "oklahoma",
    "OR": "oregon", "PA": "pennsylvania", "RI": "rhode island", "SC": "south carolina",
    "SD": "south dakota", "TN": "tennessee", "TX": "texas", "UT": "utah", "VT": "vermont",
    "VA": "virginia", "WA": "washington", "WV": "west virginia", "WI": "wisconsin",
    "WY": "wyoming", "DC": "district of columbia", "PR": "puerto rico",
}
_STATE_WORDS = frozenset({*(c.lower() for c in US_STATES), *US_STATES.values()})
_MARITAL = frozenset({
    "married", "single", "divorced", "widowed", "widow", "widower", "separated",
    "never married", "never-married", "unmarried", "domestic partner", "domestic partnership",
    "civil partnership", "civil union", "registered partnership", "engaged", "cohabiting",
    "partnered", "married-civ-spouse", "married-spouse-absent", "married-af-spouse",
    "living with partner", "legally separated",
})
_MARITAL_CORE = frozenset({"married", "divorced", "widowed", "separated", "never married",
                           "never-married", "married-civ-spouse", "widow", "widower"})
_RACE = frozenset({
    "white", "black", "asian", "caucasian", "african american", "black or african american",
    "american indian", "alaska native", "american indian or alaska native",
    "native american", "native hawaiian", "pacific islander",
    "native hawaiian or other pacific islander", "asian-pac-islander", "amer-indian-eskimo",
    "two or more races", "multiracial", "mixed", "mixed race", "biracial", "hispanic",
    "latino", "latina", "latinx", "hispanic or latino", "not hispanic or latino",
    "non-hispanic", "non-hispanic white", "non-hispanic black", "middle eastern",
    "arab", "south asian", "east asian", "other", "unknown", "declined",
})
_RACE_CORE = _RACE - {"other", "unknown", "declined", "mixed"}
_RELIGION = frozenset({
    "christian", "christianity", "catholic", "roman catholic", "protestant", "orthodox",
    "eastern orthodox", "evangelical", "baptist", "methodist", "lutheran", "anglican",
    "presbyterian", "pentecostal", "mormon", "latter-day saints", "lds",
    "jehovah's witness", "muslim", "islam", "sunni", "shia", "jewish", "judaism", "hindu",
    "hinduism", "buddhist", "buddhism", "sikh", "sikhism", "jain", "bahai", "bahá'í",
    "taoist", "shinto", "atheist", "agnostic", "none", "no religion", "nonreligious",
    "non-religious", "unaffiliated", "other", "pagan", "wiccan", "spiritual",
})
_RELIGION_CORE = _RELIGION - {"none", "no religion", "other", "spiritual", "unaffiliated",
                              "nonreligious", "non-religious"}
_ORIENTATION = frozenset({
    "heterosexual", "straight", "gay", "lesbian", "bisexual", "homosexual", "asexual",
    "pansexual", "queer", "questioning", "gay or lesbian", "other", "prefer not to say",
    "prefer not to answer", "unknown",
})
_ORIENTATION_CORE = frozenset({"heterosexual", "gay", "lesbian", "bisexual", "homosexual",
                               "asexual", "pansexual", "gay or lesbian"})
_YES_NO = frozenset({"yes", "no", "y", "n", "true", "false", "1", "0", "member",
                     "non-member", "nonmember", "not a member", "t", "f"})
_BLOOD = re.compile(r"^(?:a|b|ab|o)\s?(?:[+-]|pos|neg|positive|negative|rh\+|rh-|rh\s?pos"
                    r"|rh\s?neg)?$")
_BLOOD_SIGNED = re.compile(r"[+-]|pos|neg")


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text.strip().lower().replace("’", "'"))  # noqa: RUF001


def _in(words: frozenset[str]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        return _norm(text) in words

    return check


def _spread(core: frozenset[str], minimum: int, maximum: int, what: str) -> ColumnCheck:
    """At least ``minimum`` distinct values (at most ``maximum``), two of them core words."""

    def check(values: Sequence[str], ctx: DetectionContext) -> str | None:
        distinct = {_norm(x) for x in values}
        if not minimum <= len(distinct) <= maximum:
            return f"not the spread of a {what} column"
        if len(distinct & core) < min(2, minimum):
            return f"too few distinctive {what} values"
        return None

    return check


def _blood_column(values: Sequence[str], ctx: DetectionContext) -> str | None:
    distinct = {_norm(x) for x in values}
    if len(distinct) < 3:
        return "fewer than 3 blood groups"
    if any(_BLOOD_SIGNED.search(x) for x in distinct) or {"ab", "o"} <= distinct:
        return None
    return "letters without an Rh factor or the AB and O groups"


def _ssn_mixed_column(values: Sequence[str], ctx: DetectionContext) -> str | None:
    if len(set(values)) < min(20, len(values)):
        return "fewer than 20 distinct numbers"
    written = sum(1 for x in values if not x.isdigit())
    if written < 0.1 * len(values):
        return "fewer than 10% written as AAA-GG-SSSS; bare nine digits need a header hint"
    return None


def _state_column(values: Sequence[str], ctx: DetectionContext) -> str | None:
    return None if len({_norm(x) for x in values}) >= 3 else "fewer than 3 states"


_DETECTORS = (
    PIIDetector(
        "us_ssn_mixed", "us_ssn", "direct_identifier",
        "US SSN column written partly with separators, partly as bare nine digits",
        "SSA assignment rules; at least 10% of the valid values written AAA-GG-SSSS",
        r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{9}", v.is_us_ssn,
        column_check=_ssn_mixed_column, strength=0.9, name_hints=("ssn", "social"),
    ),
    PIIDetector(
        "us_state", "state", "quasi_identifier", "US state or territory",
        "USPS code or name (50 states, DC, PR); at least 3 distinct", _WORDS,
        _in(_STATE_WORDS), threshold=0.9, strength=0.85, column_check=_state_column,
        name_hints=("state", "province"),
    ),
    PIIDetector(
        "marital_status", "marital_status", "quasi_identifier", "Marital status",
        "marital-status vocabulary (incl. census codes); 2-15 distinct values", _WORDS,
        _in(_MARITAL), threshold=0.8, strength=0.9,
        column_check=_spread(_MARITAL_CORE, 2, 15, "marital status"),
        name_hints=("marital", "married", "civil_status"),
    ),
    PIIDetector(
        "race", "race", "quasi_identifier",
        "Race (special-category data, reported as a quasi-identifier)",
        "race/ethnicity vocabulary (US census, OMB); 2-20 distinct values", _WORDS,
        _in(_RACE), threshold=0.8, strength=0.9,
        column_check=_spread(_RACE_CORE, 2, 20, "race"), name_hints=("race",),
    ),
    PIIDetector(
        "ethnicity", "ethnicity", "sensitive", "Ethnic origin",
        "race/ethnicity vocabulary; needs a header hint", _WORDS, _in(_RACE),
        threshold=0.8, strength=0.9, requires_hint=True,
        column_check=_spread(_RACE_CORE, 2, 20, "ethnicity"),
        name_hints=("ethnicity", "ethnic", "ethnic_group", "ethnic_origin"),
    ),
    PIIDetector(
        "religion", "religion", "sensitive", "Religion or belief",
        "religion vocabulary; at least 3 distinct values, 2 of them religions", _WORDS,
        _in(_RELIGION), threshold=0.7, strength=0.9,
        column_check=_spread(_RELIGION_CORE, 3, 40, "religion"),
        name_hints=("religion", "faith", "belief", "denomination"),
    ),
    PIIDetector(
        "sexual_orientation", "sexual_orientation", "sensitive", "Sexual orientation",
        "orientation vocabulary; 2 or more distinct values, 2 of them specific", _WORDS,
        _in(_ORIENTATION), threshold=0.7, strength=0.9,
        column_check=_spread(_ORIENTATION_CORE, 2, 15, "sexual orientation"),
        name_hints=("orientation", "sexual", "sexuality"),
    ),
    PIIDetector(
        "blood_type", "blood_type", "sensitive", "Blood type (health data)",
        "ABO group with Rh factor; at least 3 groups", r"[ABOabo]{1,2}\s?[A-Za-z+ -]{0,9}",
        lambda x: bool(_BLOOD.match(_norm(x))), threshold=0.9, strength=0.9,
        column_check=_blood_column, name_hints=("blood", "abo", "bloodtype", "blood_group"),
    ),
    PIIDetector(
        "union_membership", "union_membership", "sensitive", "Trade-union membership",
        "yes/no or member/non-member values; needs a header hint", r"[A-Za-z0-9 -]{1,14}",
        _in(_YES_NO), threshold=0.9, strength=0.8, requires_hint=True,
        name_hints=("union", "trade_union", "unionized", "unionised", "union_member"),
    ),
)

ATTRIBUTE_DETECTOR_IDS: tuple[str, ...] = tuple(d.id for d in _DETECTORS)

for _detector in _DETECTORS:
    register_detector(_detector, replace=True)
