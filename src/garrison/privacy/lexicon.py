"""The name, street, city and occupation lexicon shipped with the package.

No NLP model can be downloaded at run time, so person names, street addresses,
cities and occupations are recognised by shape rules plus this lexicon. The JSON
file is generated once from Faker's provider data by
``tests/vectors/privacy/generate_lexicon.py`` and checked in; see docs/privacy.md.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Lexicon", "load_lexicon", "looks_like_city", "looks_like_person_name"]

# Honorifics, particles and suffixes that may surround a person's name.
_PREFIXES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "herr",
        "frau",
        "mme",
        "mlle",
        "m",
        "sr",
        "sra",
        "srta",
        "dña",
        "don",
        "doña",
        "ing",
        "dipl.-ing",
        "univ.prof",
        "dipl.-kfm",
        "mag",
    ]
)
_SUFFIXES = frozenset(
    [
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "md",
        "phd",
        "dds",
        "dvm",
        "mba",
        "bsc",
        "msc",
        "ba",
        "ma",
        "esq",
        "rn",
        "cpa",
        "b.sc",
        "m.sc",
        "b.a",
        "m.a",
        "b.eng",
        "m.eng",
    ]
)
_ORGANISATIONS = frozenset(
    [
        "ltd",
        "inc",
        "llc",
        "plc",
        "group",
        "gmbh",
        "ag",
        "sa",
        "sarl",
        "co",
        "corp",
        "company",
        "and",
        "partners",
        "kg",
        "ohg",
        "sl",
    ]
)
_INITIAL = re.compile(r"^[A-Z]\.$")
_PARTICLES = frozenset(
    [
        "de",
        "del",
        "della",
        "der",
        "den",
        "di",
        "da",
        "das",
        "do",
        "dos",
        "du",
        "la",
        "le",
        "van",
        "von",
        "y",
        "zu",
        "ten",
        "ter",
    ]
)
_CAPITALIZED = re.compile(r"^[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’]+(?:-[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’]+)*$")  # noqa: RUF001


@dataclass(frozen=True)
class Lexicon:
    """Frozen word sets; lookups are case-sensitive for names, lowercase for the rest."""

    first_names: frozenset[str]
    last_names: frozenset[str]
    street_words: frozenset[str]
    cities: frozenset[str]
    city_prefixes: frozenset[str]
    city_suffixes: tuple[str, ...]
    occupation_words: frozenset[str]


@functools.cache
def load_lexicon() -> Lexicon:
    """Load the packaged lexicon once per process."""
    text = resources.files("garrison.privacy").joinpath("lexicon.json").read_text("utf-8")
    raw = json.loads(text)
    return Lexicon(
        first_names=frozenset(raw["first_names"]),
        last_names=frozenset(raw["last_names"]),
        street_words=frozenset(raw["street_words"]),
        cities=frozenset(raw["cities"]),
        city_prefixes=frozenset(raw["city_prefixes"]),
        city_suffixes=(*raw["city_suffixes"], "town", "ville", "view"),
        occupation_words=frozenset(raw["occupation_words"]),
    )


def _core_tokens(text: str) -> list[str] | None:
    """Strip honorifics and suffixes; ``None`` when the shape is not a name."""
    tokens = text.replace(",", " ").split()
    while tokens and tokens[0].rstrip(".").lower() in _PREFIXES:
        tokens = tokens[1:]
    while tokens and tokens[-1].rstrip(".").lower() in _SUFFIXES:
        tokens = tokens[:-1]
    if tokens and tokens[-1].rstrip(".").lower() in _ORGANISATIONS:
        return None
    core = [t for t in tokens if t.lower() not in _PARTICLES and not _INITIAL.match(t)]
    if not 2 <= len(core) <= 5:
        return None
    if not all(_CAPITALIZED.match(t) for t in core):
        return None
    return core


def looks_like_person_name(text: str, *, strict: bool = False) -> bool:
    """Return whether ``text`` is shaped like a full person name and uses a known name.

    Shape: two to five capitalised tokens (hyphenated parts allowed) after removing
    honorifics (``Dr.``), suffixes (``Jr.``, ``MD``) and particles (``de``, ``von``).
    Lexicon: the first token is a known first name, or (unless ``strict``) the last
    token is a known last name. ``strict`` (used inside free text, where any two
    capitalised words meet) requires both.
    """
    core = _core_tokens(text)
    if core is None:
        return False
    lex = load_lexicon()
    first = core[0].split("-")[0]
    last = core[-1].split("-")[-1]
    if first in lex.city_prefixes:
        return False
    if core[-1].lower() in lex.street_words and core[-1] not in lex.last_names:
        return False  # "Michael Ridge" is a street; "Sean Green" is a person.
    known_first = first in lex.first_names
    known_last = last in lex.last_names or core[-1] in lex.last_names
    return known_first and known_last if strict else known_first or known_last


def looks_like_city(text: str) -> bool:
    """Return whether ``text`` is a known city or has the shape of an English place name."""
    lex = load_lexicon()
    value = text.strip()
    if value in lex.cities:
        return True
    tokens = value.split()
    if not 1 <= len(tokens) <= 3 or not all(_CAPITALIZED.match(t) for t in tokens):
        return False
    if len(tokens) >= 2 and tokens[0] in lex.city_prefixes:
        return True
    return len(tokens) == 1 and tokens[0].lower().endswith(lex.city_suffixes)
