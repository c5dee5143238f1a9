"""Refuse direct identifiers of patients (DESIGN.md 4.3): the dashboard holds
pseudonymised study data only, so a file with names, addresses, phone numbers, e-mail
addresses, dates of birth, photographs, BSN or social security numbers is refused whole,
before anything of it reaches the database."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from dashboard.issues import Issue
from dashboard.textnorm import ascii_digits

# Header words (after splitting on punctuation and camelCase) that name a direct identifier.
IDENTIFYING_WORDS = {
    "name": "a name",
    "names": "names",
    "naam": "a name",
    "surname": "a name",
    "firstname": "a name",
    "lastname": "a name",
    "fullname": "a name",
    "voornaam": "a name",
    "achternaam": "a name",
    "voorletters": "initials",
    "initials": "initials",
    "address": "an address",
    "adres": "an address",
    "street": "an address",
    "straat": "an address",
    "postcode": "a postcode",
    "zipcode": "a postcode",
    "zip": "a postcode",
    "woonplaats": "an address",
    "phone": "a phone number",
    "telephone": "a phone number",
    "telefoon": "a phone number",
    "telefoonnummer": "a phone number",
    "mobile": "a phone number",
    "mobiel": "a phone number",
    "email": "an e-mail address",
    "mail": "an e-mail address",
    "dob": "a date of birth",
    "birthdate": "a date of birth",
    "birthday": "a date of birth",
    "geboortedatum": "a date of birth",
    "bsn": "a BSN",
    "ssn": "a social security number",
    "burgerservicenummer": "a BSN",
    "socialsecurity": "a social security number",
    "mrn": "a hospital patient number",
    "patientnummer": "a hospital patient number",
    "ziekenhuisnummer": "a hospital patient number",
    "photo": "a photograph",
    "mugshot": "a photograph",
    "city": "a place of residence",
    "town": "a place of residence",
    "state": "a place of residence",
    "province": "a place of residence",
    "provincie": "a place of residence",
    "plaats": "a place of residence",
    "stad": "a place of residence",
}
# Phrases that identify where each word alone does not.
IDENTIFYING_PHRASES = {
    "date of birth": "a date of birth",
    "date birth": "a date of birth",
    "day of birth": "a date of birth",
    "birth dt": "a date of birth",
    "datum geboorte": "a date of birth",
    "birth date": "a date of birth",
    "geboorte datum": "a date of birth",
    "social security": "a social security number",
    "e mail": "an e-mail address",
    "zip code": "a postcode",
    "post code": "a postcode",
}
# Words that say an identifying word is about something else: the drug's name (`chemo_name`), the
# hospital's, a phone call or an e-mail as an event (`fu_phone_call`, `email_sent`), the place of a
# metastasis (`plaats_metastase`). A header is judged whole: with one of these it identifies nobody.
NOT_ABOUT_THE_PATIENT = {
    "chemo", "drug", "drugs", "medication", "medicatie", "middel", "regimen", "schema", "hospital", "ziekenhuis",
    "site", "centre", "center", "institute", "instituut", "study", "studie", "trial", "event", "form", "arm",
    "group", "file", "document", "call", "calls", "sent", "taken", "received", "verstuurd", "gemaakt", "done",
    "metastase", "metastasen", "metastasis", "metastases", "tumor", "tumour", "lesion", "laesie", "scan", "ct",
    "mri", "procedure", "operatie", "surgery", "pump", "pomp", "catheter", "katheter", "protocol", "investigator",
    "physician", "surgeon", "chirurg", "device", "lab", "sample", "variable", "instrument", "report", "complete",
}

# EDC bookkeeping columns whose headers contain such a word but hold no patient data.
SAFE_COLUMNS = {
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_data_access_group",
    "site name",
    "institute name",
    "site_name",
    "randomization group name",
    "event name",
    "form name",
    "arm name",
    # The title of a Castor report export, not a person.
    "custom_name",
}

BSN_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])

HOW_TO_DEIDENTIFY = {
    "castor": (
        "In Castor, export again and leave out these variables (Export > choose the variables), "
        "or ask the study admin to mark them as identifying so exports skip them."
    ),
    "redcap": (
        "In REDCap, use Data Exports > 'De-identified' or tick 'Remove all tagged Identifier fields', "
        "and leave out these fields."
    ),
}
DEFAULT_HOW_TO = "Remove these columns from the file and upload it again."


def header_words(header: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", header)
    return [w for w in re.split(r"[^0-9a-z]+", spaced.casefold()) if w]


def identifying_header(header: str) -> str | None:
    """What kind of identifier a column header names, or None."""
    if header.strip().casefold() in SAFE_COLUMNS:
        return None
    words = header_words(header)
    if NOT_ABOUT_THE_PATIENT.intersection(words):
        return None
    joined = f" {' '.join(words)} "
    for phrase, kind in IDENTIFYING_PHRASES.items():
        if f" {phrase} " in joined:
            return kind
    return next((IDENTIFYING_WORDS[w] for w in words if w in IDENTIFYING_WORDS), None)


def passes_eleven_test(values: pd.Series) -> pd.Series:
    """True where a value is an 8- or 9-digit number that passes the BSN eleven-test."""
    values = ascii_digits(values)
    digits = values.str.strip().str.fullmatch(r"[0-9]{8,9}").fillna(False)
    result = pd.Series(False, index=values.index)
    if not digits.any():
        return result
    padded = values[digits].str.strip().str.zfill(9)
    total = _digit_matrix(padded) @ BSN_WEIGHTS
    result[digits] = (total % 11 == 0) & (total != 0)
    return result


def _digit_matrix(padded: pd.Series) -> np.ndarray:
    raw = np.frombuffer("".join(padded.to_numpy()).encode("ascii"), dtype=np.uint8)
    return (raw - ord("0")).reshape(-1, 9).astype(int)


def find_identifiers(
    frame: pd.DataFrame,
    id_column: str | None,
    fmt: str | None,
    date_columns: dict[str, str] | None = None,
    earliest_enrolment: dt.date | None = None,
) -> list[Issue]:
    """One error per column of the file that holds direct identifiers: by its name, by
    what its values hold, or by dates that sit decades before any enrolment could be: dates
    of birth, whether the column is read as a date field (`date_columns`: column -> field) or not."""
    how_to = HOW_TO_DEIDENTIFY.get(fmt or "", DEFAULT_HOW_TO)
    fields_of = date_columns or {}
    issues = []
    for column in frame.columns:
        values = frame[column]
        kind = identifying_header(checkbox_variable(column, values))
        reason = f"its name says it holds {kind}" if kind else None
        if reason is None:
            found = identifying_value(values, bsn_digits="8-9" if column == id_column or _all_long_numbers(values) else "9")
            if found:
                kind, index = found
                reason = f"it holds {kind} (row {int(index) + 2})"
        if reason is None and earliest_enrolment is not None:
            index = _birth_dates(values, earliest_enrolment)
            if index is not None:
                read_as = f", read as `{fields_of[column]}`," if column in fields_of else ""
                reason = f"it{read_as} holds dates decades before any enrolment, which are dates of birth (row {int(index) + 2})"
        if reason:
            issues.append(
                Issue.error(
                    "identifier",
                    f"`{column}`: {reason}. Direct identifiers of patients may not be stored here, "
                    f"so the file is refused. {how_to}",
                    column=column,
                )
            )
    return issues


# What free text may not hold. Each pattern is linear in the text: bounded repeats and no
# nested ones, so a 100,000-character cell is searched in milliseconds.
_SURNAME = r"(?:(?:van|de|der|den|ten|ter|von|le|la|du|el|al|Van|De)\s{1,3}){0,3}[A-Z][a-z\u00e0-\u00ff'\u2019-]{1,40}"
FIRST_NAMES = ["Jan", "Piet", "Kees", "Henk", "Klaas", "Gerrit", "Willem", "Hendrik", "Johannes", "Cornelis", "Jacobus", "Petrus", "Theo", "Daan", "Sem", "Lucas", "Finn", "Noah", "Levi", "Maria", "Anna", "Johanna", "Elisabeth", "Wilhelmina", "Cornelia", "Adriana", "Sanne", "Lisa", "Emma", "Julia", "Sophie", "Eva", "Tess", "Fleur", "Anouk", "Ingrid", "Mohammed", "Mohamed", "Ahmed", "Fatima", "Peter", "John", "James", "Mary", "Robert", "Michael", "David", "William", "Richard", "Thomas", "Elizabeth", "Jennifer", "Linda", "Susan", "Sarah", "Karen", "Nancy", "Joseph", "Charles", "Patricia", "Barbara", "Mehmet", "Ahmet", "Mustafa", "Ali", "Fatma", "Ayse", "Hatice", "Emine", "Youssef", "Karim", "Nadia", "Sara", "Mark", "Erik", "Dirk", "Bas", "Joost", "Ruud", "Marieke", "Els", "Ria", "Wim", "Ton", "Joop", "Gert", "Bert", "Hans", "Frank", "Paul", "Marco", "Sandra", "Monique", "Petra", "Bianca", "Esther", "Hélène", "Annemarie", "Gerda", "Truus", "Bep", "Riet", "Mieke", "Karin"]
# The commonest Dutch surnames (and a few of the Turkish and Moroccan Dutch ones): one alone, written
# with a capital or in capitals, is taken for a person. Those that are also ordinary words or places
# (Bos, Post, Bosch, Maas, Groen, Vink) are left out.
SURNAMES = ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden", "Jacobs", "de Haan", "Vermeulen", "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "de Bruin", "van der Heijden", "Schouten", "van Beek", "Willems", "van Vliet", "van de Ven", "Hoekstra", "Verhoeven", "Koster", "van Dam", "van der Wal", "Huisman", "Peeters", "Pietersen", "Pieterse", "Kuipers", "Veenstra", "Kramer", "van Wijk", "Postma", "Timmermans", "Hermans", "Jonker", "van Rijn", "Martens", "Yilmaz", "Kaya", "Demir", "Sahin", "Celik", "Yildiz", "Öztürk", "El Amrani", "Bouzid", "Aerts", "Claes", "Goossens", "Wouters", "Maes", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson"]
# A capitalised word after one of these is a name ("pt. Bakker"), and so is a listed surname in any case
# ("mw. jansen"); "mevrouw wil niet" and "fam. belast" are not. Never after "patient": "Patient Declined"
# is an EDC label, not a person.
_TITLES = r"(?i:dhr|mevr|mw|meneer|mevrouw|de heer|dr|drs|prof|zr|zuster|fam|familie|huisarts|pt\.)"
_RELATIONS = r"(?i:zoon|dochter|vrouw|echtgenote|echtgenoot|partner|broer|zus|zuster|moeder|vader|schoonzoon|schoondochter|kleinzoon|kleindochter|buurman|buurvrouw|mantelzorger|son|daughter|wife|husband|brother|sister|mother|father|neighbour|neighbor)"


def word_list_pattern(words: list[str]) -> str:
    """One regular expression for a list of words, shared beginnings said once (a trie:
    "Jans(?:en|sen)"): Python's re tries an alternation's words one by one at every place
    of the text, and a cell of 100,000 characters has many places."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if ends_here else "")

    return "(?:" + build(trie) + ")"


_FIRST_NAME_WORDS = word_list_pattern(FIRST_NAMES)
_SURNAME_WORDS = word_list_pattern(sorted({form for name in SURNAMES for form in (name, name[0].upper() + name[1:], name.upper())}))
# Text that looks like a person and is not: institutions and their places ("St. Anna Ziekenhuis",
# "Maria Middelares Gent", "AZ Sint-Jan Brugge"), and abbreviations read as initials ("N.B. Patiënt").
# It is blanked before names are looked for.
NOT_A_PERSON = re.compile(
    r"(?i:\b(?:(?:st|sint|sancta|saint)[.-]?\s{0,3})?(?:[\w'-]{1,30}\s{1,3}){0,2}"
    r"(?:ziekenhuis|ziekenhuizen|gasthuis|kliniek|hospital|clinic|medisch centrum|medical cent(?:er|re)|umc|mc|"
    r"middelares|zorggroep|cancer institute|leeuwenhoek)\b(?:\s{1,3}(?:gent|brugge|antwerpen|eindhoven|breda|zwolle|utrecht|rotterdam|amsterdam|leiden|nijmegen|groningen|maastricht|tilburg|den haag|delft|dordrecht))?"
    r"|\b(?:az|uz|zna|gza)\s{1,3}(?:[\w'-]{1,30}\s{0,3}){1,3}"
    r"|\b(?:n\.\s?b|i\.v\.m|o\.a|d\.d|t\.z\.t|z\.n|a\.s|e\.g|i\.e|m\.b\.t|i\.o\.m|e\.c\.i)\.?(?!\w))"
)
NAMES_KIND = "names of people"
VALUE_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("e-mail addresses", re.compile(r"[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,6}\.[A-Za-z]{2,24}")),
    (
        "bank account numbers (IBAN)",
        re.compile(r"\b(?i:NL|BE|DE|FR|GB|LU|ES|IT|TR|PL|AT|CH|PT|IE|DK|SE|NO|FI|MA)[0-9]{2}(?:[ ]{0,2}[A-Za-z0-9]{4}){2,7}(?:[ ]{0,2}[A-Za-z0-9]{1,3})?\b"),
    ),
    (
        "dates of birth",
        re.compile(
            r"(?i:\b(?:geb|geboren|born|dob|d\.o\.b|geboortedatum|date of birth|birth date|birthdate)\.?\s{0,3}(?:op\s{1,3}|on\s{1,3})?[:=]?\s{0,3}"
            r"(?:[0-9]{1,2}[ ./-]{1,3}(?:[0-9]{1,2}|[a-z]{3,9})\.?[ ./-]{1,3}[0-9]{2,4}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|(?:19|20)[0-9]{2})\b)"
        ),
    ),
    (
        "hospital record numbers",
        re.compile(
            r"(?i:\b(?:ziekenhuisnummer|ziekenhuisnr|pati[eë]nt(?:en)?nummer|pati[eë]ntnr|pat\.?\s?nr|patnr|mrn|epd[- ]?nummer|his[- ]?nummer|"
            r"hospital number|medical record(?: number)?|record number|dossiernummer|dossiernr)\.?\s{0,3}[:=#]?\s{0,3}[A-Za-z]{0,4}[0-9]{5,10}\b)"
        ),
    ),
    (
        "phone numbers",
        re.compile(
            r"(?<![\w+])(?:(?:\+|00)[1-9][0-9]{0,2}[ .-]{0,3}(?:\(0\)[ .-]{0,3})?[0-9](?:[ .-]{0,3}[0-9]){6,12}"  # +31 6 1234 5678
            r"|(?![0-9]{1,2}\s{0,2}[-/.]\s{0,2}[0-9]{1,2}\s{0,2}[-/.]\s{0,2}[0-9]{4})0[1-9](?:[ .-]{0,5}[0-9]){8}"  # 06 - 1234 5678; not 05-04-2023 14:00
            r"|\(0[1-9][0-9]{0,2}\)[ -]{0,3}[0-9](?:[ -]{0,3}[0-9]){5,7}"  # (010) 704 1234
            r"|\([2-9][0-9]{2}\)[ ]{0,3}[0-9]{3}[ .-]{1,3}[0-9]{4}|\b[2-9][0-9]{2}[.-][0-9]{3}[.-][0-9]{4})(?![0-9]|:[0-9])"  # (352) 294-5299
        ),
    ),
    (
        "BSN numbers",
        re.compile(r"(?i:\b(?:bsn|burgerservicenummer|sofinummer|sofi-nummer|ssn)\.?\s{0,3}[:=#]?\s{0,3}[0-9](?:[ .]?[0-9]){7,8}\b)"),
    ),
    (
        NAMES_KIND,
        re.compile(
            r"\b(?:" + _TITLES + r"\.?\s{1,3}(?:[A-Z]\.\s?){0,3}" + _SURNAME
            + r"|" + _TITLES + r"\.?\s{1,3}(?i:" + _SURNAME_WORDS + r")\b"
            + r"|(?:Mr|Mrs|Ms|Miss)\.?\s{1,3}(?:[A-Z]\.\s?){0,3}" + _SURNAME
            + r"|" + _FIRST_NAME_WORDS + r"\s{1,3}" + _SURNAME
            + r"|" + _RELATIONS + r"\s{1,3}(?:(?i:" + _FIRST_NAME_WORDS + r")|[A-Z][a-z\u00e0-\u00ff]{1,30}\s{1,3}[A-Z][a-z\u00e0-\u00ff'-]{1,40})\b"
            + r"|[A-Z]\.(?:\s{0,3}[A-Z]\.){0,3}\s{1,3}" + _SURNAME
            + r"|(?i:naam|name|achternaam|surname|contact|contactpersoon)\s{0,3}[:=]?\s{0,3}(?:[A-Z][a-z\u00e0-\u00ff'-]{1,40}|(?i:" + _SURNAME_WORDS + r")\b)"
            + r"|(?:" + _SURNAME_WORDS + r")(?![\w-]))"
        ),
    ),
    (
        "street addresses",
        re.compile(
            r"\b[A-Za-z\u00c0-\u00ff'-]{1,40}(?i:straat|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg|markt|park)\s{1,3}[0-9]{1,5}"
            r"|\b[0-9]{1,5}[A-Za-z]?\s{1,3}(?:[A-Za-z]{2,30}\s{1,3}){1,3}(?:(?i:street|road|rd|avenue|ave|lane|drive|boulevard|blvd|court|place)|St|ST)\b"
        ),
    ),
    # Not a dose: 1000 MG, 1250 MG/M2, 30 ML are units, never postcode letters here.
    (
        "postcodes",
        re.compile(
            r"\b[1-9][0-9]{3} {0,2}(?!SA|SD|SS|MG|ML|GY|KG|CM|MM|IE|IU|CC|UL|DL)[A-Z]{2}\b"
            r"|(?i:\b(?:postcode|post code|zip code|zip)\s{0,3}:?\s{0,3}[1-9][0-9]{3} {0,2}[a-z]{2}\b)"
        ),
    ),
)
# Any of them: one pass over a column finds the few values worth trying each pattern on.
ANY_VALUE_PATTERN = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in VALUE_PATTERNS))
BSN_FORMS = {
    "9": re.compile(r"(?<![0-9])(?:[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})(?![0-9])"),
    "8-9": re.compile(r"(?<![0-9])(?:[0-9]{8,9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})(?![0-9])"),
}
BSN_KIND = "numbers that pass the BSN eleven-test"


def identifying_value(values: pd.Series, bsn_digits: str = "9") -> tuple[str, object] | None:
    """(what kind of identifier, the index of the first value holding one), or None.
    Each distinct value is looked at once; digits of any script count as digits."""
    text = ascii_digits(values.dropna().astype(str))
    distinct = pd.Series(text.unique(), dtype=object)  # Python's re, not pyarrow's look at each pattern per call
    # A lone surname ("Bakker") is shorter than five characters at times ("Vos"): keep those that may be one.
    distinct = distinct[(distinct.str.len() >= 5) | distinct.str.fullmatch(r"\s{0,3}[A-Z][A-Za-z]{2,3}\s{0,3}")]
    if distinct.empty:
        return None
    hits: list[tuple[str, str]] = []
    bsn = _first_bsn(distinct, BSN_FORMS[bsn_digits])
    if bsn is not None:  # named first: of one value, the eleven-test is the surer word
        hits.append((BSN_KIND, bsn))
    suspect = distinct[distinct.str.contains(ANY_VALUE_PATTERN, regex=True)]
    for kind, pattern in VALUE_PATTERNS if len(suspect) else ():
        # Names are looked for with institutions and abbreviations blanked: "St. Anna Ziekenhuis" is no Anna.
        looked_at = suspect.str.replace(NOT_A_PERSON, " ~ ", regex=True) if kind == NAMES_KIND else suspect
        matched = looked_at[looked_at.str.contains(pattern, regex=True)]
        if len(matched):
            hits.append((kind, distinct[matched.index[0]]))
    if not hits:
        return None
    # Report the one that comes first in the file.
    first_of = {value: index for index, value in zip(text.index[::-1], text.to_numpy()[::-1], strict=True)}
    kind, value = min(hits, key=lambda hit: text.index.get_loc(first_of[hit[1]]))
    return kind, first_of[value]


def _first_bsn(distinct: pd.Series, pattern: re.Pattern) -> str | None:
    candidates = distinct[distinct.str.contains(pattern, regex=True)]
    if candidates.empty:
        return None
    numbers = candidates.str.extractall(f"({pattern.pattern})")[0].str.replace(".", "", regex=False)
    passing = passes_eleven_test(numbers)
    if not passing.any():
        return None
    return candidates.loc[passing[passing].index.get_level_values(0)[0]]


def screen_text(label: str, values: pd.Series | str | None, bsn_digits: str = "9") -> str | None:
    """A sentence naming `label` when text about to be stored holds a direct identifier,
    else None. The write path passes every text it stores through here (`screen_stored`)."""
    if values is None or (isinstance(values, str) and not values.strip()):
        return None
    series = pd.Series([values]) if isinstance(values, str) else values
    found = identifying_value(series, bsn_digits)
    if found is None:
        return None
    kind, index = found
    where = "" if isinstance(values, str) else f" (row {int(index) + 1} of the {len(series)} stored)"
    return (
        f"{label} holds {kind}{where}. Direct identifiers of patients may never be stored here, "
        "so nothing was stored; remove them and try again."
    )


def screen_stored(texts: dict[str, pd.Series | str | None], ids: pd.Series | None = None) -> str | None:
    """The one identifier screen of the write path: every text a write stores (participant
    fields, file names, reasons, notes), by the label a person would know it by; `ids` are
    participant ids, where an 8-digit BSN counts too. The first problem, or None."""
    if ids is not None:
        problem = screen_text("`participant_id`", ids, bsn_digits="8-9")
        if problem:
            return problem
    return next((problem for label, values in texts.items() if (problem := screen_text(label, values))), None)


def screen_mapping(mapping: dict[str, str] | None) -> str | None:
    """A column chosen for a field whose name says it holds an identifier."""
    for field_name, column in (mapping or {}).items():
        kind = identifying_header(column or "")
        if kind:
            return (
                f"the column `{column}` chosen for `{field_name}` is named as holding {kind}; direct identifiers "
                "of patients may never be stored here, so nothing was stored. Choose another column."
            )
    return None


def _birth_dates(values: pd.Series, earliest_enrolment: dt.date) -> object | None:
    """The index of the first date that sits 18 years or more before the first possible
    enrolment, when most of the column's dates do: no trial event happens that early."""
    from dashboard.validation import parse_dates  # validation imports readers; keep this module light

    filled = values[values.str.strip() != ""]
    if filled.empty:
        return None
    cutoff = pd.Timestamp(earliest_enrolment) - pd.DateOffset(years=18)
    # Dates are parsed only where a year that early is written: most columns, event dates among them, have none.
    years = pd.to_numeric(filled.str.extract(r"(?<![0-9])((?:1[89]|20)[0-9]{2})(?![0-9])", expand=False), errors="coerce")
    if not (years <= cutoff.year).any():
        return None
    dates, _, _ = parse_dates(filled)
    dates = dates.dropna()
    if dates.empty:
        return None
    early = dates < cutoff
    return early.idxmax() if early.mean() >= 0.5 else None


CHECKBOX_HEADER = r"^(?P<variable>.+?)(?:#.*|___.*| \(choice=.*\))$"
CHECKBOX_VALUES = {"", "0", "1", "Checked", "Unchecked"}


def checkbox_variable(header: str, values: pd.Series) -> str:
    """For a checkbox column ('reason#No fixed address', 'reason___3', 'Reason (choice=Other)')
    that holds only ticks, the variable's name: the option label is not patient data."""
    found = re.match(CHECKBOX_HEADER, header)
    if found and set(values.unique()) <= CHECKBOX_VALUES:
        return found["variable"]
    return header


def _all_long_numbers(values: pd.Series) -> bool:
    filled = ascii_digits(values[values.str.strip() != ""])
    return bool(len(filled)) and bool(filled.str.strip().str.fullmatch(r"[0-9]{8,9}").all())
