"""Money tied to a person: currency amounts in a table that identifies people.

A column of currency amounts is not personal data on its own (a price list), and a
header is not needed to see that values such as ``$52,300.00`` are money. What makes
it sensitive is the table: next to a direct identifier (a name, an e-mail address, an
SSN) an amount is a fact about that person, such as their pay, their balance or their
debt. This rule runs after every column is classified, over the whole table.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from garrison.privacy.classify import ColumnFinding, TypeFinding

__all__ = ["MONEY_SHARE", "currency_share", "tie_money_to_people"]

#: The share of a column's sampled values that must be currency amounts.
MONEY_SHARE = 0.8
_CURRENCY = r"(?:[$€£¥₹]|USD|EUR|GBP|CHF|JPY|CAD|AUD|INR)"
_AMOUNT = r"-?\d{1,3}(?:[,.\s]?\d{3})*(?:[.,]\d{1,2})?"
_MONEY = re.compile(rf"^(?:{_CURRENCY}\s?{_AMOUNT}|{_AMOUNT}\s?{_CURRENCY})$")


def currency_share(values: Sequence[str]) -> float:
    """Share of ``values`` written as an amount with a currency symbol or code."""
    if not values:
        return 0.0
    return sum(1 for v in values if _MONEY.match(v.strip())) / len(values)


def tie_money_to_people(columns: Sequence[ColumnFinding],
                        sample: Callable[[str], list[str]]) -> tuple[ColumnFinding, ...]:
    """``columns`` with currency columns marked ``sensitive`` when the table also holds
    a direct identifier; unchanged otherwise."""
    if not any(c.role == "direct_identifier" for c in columns):
        return tuple(columns)
    out = []
    for column in columns:
        if column.role == "non_pii" and not column.free_text:
            share = currency_share(sample(column.name))
            if share >= MONEY_SHARE:
                finding = TypeFinding(
                    pii_type="money", detector="money_tied_to_person", role="sensitive",
                    share=share, confidence=round(0.5 + 0.3 * share, 3),
                    validator="currency amounts in a table with a direct identifier",
                    evidence=("values", "table"))
                column = dataclasses.replace(column, role="sensitive",
                                             confidence=finding.confidence,
                                             pii_types=(finding,))
        out.append(column)
    return tuple(out)
