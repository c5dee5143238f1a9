"""Text as the dashboard reads and shows it: digits from any script read as ASCII digits
(a date or a BSN in full-width ２０２４ or Arabic-Indic ٢٠٢٤ digits is judged like any
other), and text from a file or a person shown literally, never as Markdown or HTML."""

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


# Every character that Markdown, HTML or Streamlit's directives (`:red[...]`, `:material/x:`, `$x$`) act on.
_MARKUP = re.compile(r"[\\`*_{}\[\]()#+\-.!|<>$~:=&]")


def plain(text: object) -> str:
    """Text from a file or a person for a Markdown element, escaped so that nothing in it
    formats, links or runs (`<img onerror=...>`, `[x](javascript:...)`, `**bold**`, `$x$`)."""
    return _MARKUP.sub(r"\\\g<0>", str(text))
