"""Value validators and column checks behind the built-in detectors (see ``builtin``)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

import numpy as np

from garrison.privacy import validators as v
from garrison.privacy.detectors import ColumnCheck, DetectionContext
from garrison.privacy.lexicon import load_lexicon, looks_like_person_name

_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU", "IN")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_DIGITS = re.compile(r"\d")
_DATE_TOKEN = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}")
_STREET_NUMBER = re.compile(r"^\d{1,6}[A-Za-z]?,?$")
_HOUSE_NUMBER = re.compile(r"^\d{1,5}[a-zA-Z]?(?:[-/]\d{1,4}[a-zA-Z]?)?,?$")
_UNIT_WORDS = frozenset(
    [
        "apt",
        "apt.",
        "suite",
        "ste",
        "ste.",
        "unit",
        "#",
        "fl",
        "fl.",
        "floor",
        "piso",
        "puerta",
        "bajo",
    ]
)
_DE_STREET_SUFFIXES = (
    "straße",
    "strasse",
    "str.",
    "weg",
    "gasse",
    "platz",
    "allee",
    "ring",
    "damm",
    "ufer",
    "chaussee",
    "pfad",
    "steig",
    "markt",
)
_GENDERS = frozenset(
    [
        "m",
        "f",
        "male",
        "female",
        "man",
        "woman",
        "men",
        "women",
        "x",
        "nonbinary",
        "non-binary",
        "diverse",
        "divers",
        "other",
        "w",
        "männlich",
        "weiblich",
        "homme",
        "femme",
        "hombre",
        "mujer",
        "h",
        "u",
        "unknown",
    ]
)
_CONDITIONS = frozenset(
    [
        "diabetes",
        "hypertension",
        "asthma",
        "cancer",
        "carcinoma",
        "melanoma",
        "leukemia",
        "lymphoma",
        "copd",
        "depression",
        "anxiety",
        "schizophrenia",
        "bipolar",
        "dementia",
        "alzheimer's",
        "alzheimer",
        "parkinson's",
        "parkinson",
        "epilepsy",
        "hiv",
        "aids",
        "hepatitis",
        "tuberculosis",
        "pneumonia",
        "influenza",
        "covid-19",
        "covid",
        "arthritis",
        "osteoporosis",
        "obesity",
        "stroke",
        "migraine",
        "sclerosis",
        "fibrosis",
        "anemia",
        "anaemia",
        "psoriasis",
        "eczema",
        "glaucoma",
        "cataract",
        "infarction",
        "fracture",
        "disorder",
        "syndrome",
        "disease",
        "insufficiency",
        "failure",
        "infection",
        "hypothyroidism",
        "hyperthyroidism",
        "cirrhosis",
        "nephropathy",
        "neuropathy",
        "autism",
        "adhd",
    ]
)


def _tokens(text: str) -> list[str]:
    return re.split(r"[\s,;/()]+", text.lower())


def _is_phone_candidate(text: str) -> bool:
    """Cheap structural check; libphonenumber runs on a sample in the column check."""
    digits = len(_DIGITS.findall(text))
    if not 7 <= digits <= 15 or _SSN_SHAPE.match(text) or v.parse_date(text) is not None:
        return False
    return not (v.is_ipv4(text) or v.is_payment_card(text))


def _is_valid_phone_anywhere(text: str) -> bool:
    digits = len(_DIGITS.findall(text))
    if not 7 <= digits <= 15 or _DATE_TOKEN.fullmatch(text.strip()) or v.is_ipv4(text.strip()):
        return False
    return any(v.phone_parse(text, region)[1] for region in _PHONE_REGIONS[:5])


def _phone_cue(text: str) -> bool:
    low = text.lower()
    return text.startswith(("+", "00")) or "(" in text or "x" in low or "ext" in low


def _phone_column(values: Sequence[str], ctx: DetectionContext) -> str | None:
    """Real telephone columns are mostly valid numbers, or carry telephone formatting.

    A random ten-digit order number is a *possible* US number, and about 40% of them
    are even *valid*; numbers that are neither mostly valid nor written with a
    country code, parentheses or an extension are identifiers, not telephones.
    """
    sample = list(values[:100])
    probe = sample[:20]
    region = max(_PHONE_REGIONS[:5], key=lambda r: sum(v.phone_parse(x, r)[1] for x in probe))
    best = float(np.mean([v.phone_parse(x, region)[1] for x in sample]))
    cues = float(np.mean([_phone_cue(x) for x in sample]))
    if best >= 0.8 or (cues >= 0.2 and best >= 0.3):
        return None
    return f"only {best:.0%} valid telephone numbers and {cues:.0%} telephone formatting"


def _is_street_address(text: str) -> bool:
    tokens = text.replace(",", " , ").split()
    tokens = [t for t in tokens if t != ","]
    if not 2 <= len(tokens) <= 12:
        return False
    words = load_lexicon().street_words
    if _STREET_NUMBER.match(tokens[0]):
        rest = tokens[1:]
        for i, token in enumerate(rest):
            if token.lower() in _UNIT_WORDS:
                rest = rest[:i]
                break
        if len(rest) >= 2 and rest[-1].rstrip(".").lower() in words | {"st", "ave", "rd", "blvd"}:
            return True
        return len(rest) >= 2 and rest[0].lower() in words
    for i in range(len(tokens) - 1, 0, -1):
        if _HOUSE_NUMBER.match(tokens[i]):
            name = tokens[:i]
            if name[0].lower() in words and len(name) >= 2:
                return True
            return name[-1].lower().endswith(_DE_STREET_SUFFIXES)
    return False


def _name_in_text(run: str) -> bool:
    """Inside prose any two capitalised words meet; require a known first AND last name."""
    words = run.split()
    return any(
        looks_like_person_name(f"{a} {b}", strict=True) for a, b in itertools.pairwise(words)
    )


def _birth_dates(values: Sequence[str], ctx: DetectionContext) -> str | None:
    """Birth dates imply plausible ages spread over decades; event dates cluster."""
    dates = [d for d in (v.parse_date(x) for x in values) if d is not None]
    if len(dates) < 5:
        return "too few dates to judge their distribution"
    ages = np.array([(ctx.today - d).days / 365.2425 for d in dates])
    if float(np.mean(ages < 0)) > 0.01:
        return "dates in the future: not birth dates"
    if float(np.mean(ages <= 120)) < 0.95:
        return "implied ages outside 0-120 years"
    decades = {d.year // 10 for d in dates}
    if float(np.std(ages)) < 5.0 or len(decades) < 3:
        return "dates cluster within a few years: event dates, not birth dates"
    if float(np.mean(ages < 2)) > 0.25:
        return "most dates are recent: event dates, not birth dates"
    return None


def _dob_in_text(text: str) -> bool:
    match = _DATE_TOKEN.search(text)
    return match is not None and v.parse_date(match.group(0)) is not None


def _version_like(values: Sequence[str], ctx: DetectionContext) -> str | None:
    """Version strings (``1.2.3.4``) parse as IPv4 but start with small numbers.

    Addresses spread their first octet over 1-223 (private networks start with 10,
    172 or 192); a column whose values mostly start with a small major and minor
    number (excluding the 10/8 network) holds versions.
    """

    def small(x: str) -> bool:
        major, minor = (int(p) for p in x.split(".")[:2])
        return major < 20 and major != 10 and minor < 64

    share = float(np.mean([small(x) for x in values]))
    return "values look like version numbers" if share >= 0.7 else None


def _distinct(minimum: int) -> ColumnCheck:
    def check(values: Sequence[str], ctx: DetectionContext) -> str | None:
        if len(set(values)) < min(minimum, len(values)):
            return f"fewer than {minimum} distinct values"
        return None

    return check


def _leading_zero_postcodes(values: Sequence[str], ctx: DetectionContext) -> str | None:
    """Bare five-digit numbers are postcodes only if some keep a leading zero."""
    too_few = _distinct(5)(values, ctx)
    if too_few:
        return too_few
    share = np.mean([x.startswith("0") for x in values])
    return None if share >= 0.01 else "five-digit numbers without leading zeros"


def _gender_column(values: Sequence[str], ctx: DetectionContext) -> str | None:
    distinct = {x.lower() for x in values}
    return None if 2 <= len(distinct) <= 8 else "not a small set of gender values"


def _icd10_column(values: Sequence[str], ctx: DetectionContext) -> str | None:
    if len(set(values)) < 5 or len({x[0] for x in values}) < 3:
        return "too few distinct codes and chapters for diagnoses"
    return None


_AMOUNT_NOISE = re.compile(r"[,$€£]")


def _in_range(low: float, high: float) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            number = float(_AMOUNT_NOISE.sub("", text))
        except ValueError:
            return False
        return low <= number <= high

    return check
