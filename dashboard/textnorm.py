"""Digits from any script read as ASCII digits, so that a date or a BSN written in
full-width (２０２４) or Arabic-Indic (٢٠٢٤) digits is judged like any other."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

_NON_ASCII_DIGIT = re.compile(r"[^\x00-\x7f]")
_ANY_DIGIT = re.compile(r"\d")


def _ascii(match: re.Match) -> str:
    return str(unicodedata.decimal(match.group(), match.group()))


def ascii_digits_text(text: str) -> str:
    return _ANY_DIGIT.sub(_ascii, text) if _NON_ASCII_DIGIT.search(text) else text


def ascii_digits(values: pd.Series) -> pd.Series:
    """The values with every Unicode decimal digit replaced by its ASCII digit; only the
    (rare) values with a non-ASCII character are touched."""
    text = values.fillna("").astype(str)
    odd = text.str.contains(_NON_ASCII_DIGIT.pattern, regex=True)
    if not odd.any():
        return text
    return text.mask(odd, text[odd].map(ascii_digits_text))
