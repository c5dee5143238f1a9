"""Text as the dashboard reads and shows it."""

import pandas as pd

from dashboard.textnorm import ascii_digits, plain


def test_digits_of_any_script_read_as_ascii_digits():
    assert ascii_digits(pd.Series(["０５-０３-２０２４", "٠٥-٠٣-٢٠٢٤", "P-1", None])).tolist() == ["05-03-2024", "05-03-2024", "P-1", ""]


def test_text_from_a_file_or_a_person_is_shown_literally_never_as_markup():
    assert plain("<img src=x onerror=alert(1)>") == r"\<img src\=x onerror\=alert\(1\)\>"
    assert plain("[x](javascript:alert(1))") == r"\[x\]\(javascript\:alert\(1\)\)"
    assert plain("**bold** $x$ :red[y]") == r"\*\*bold\*\* \$x\$ \:red\[y\]"
