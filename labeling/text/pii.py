"""PII redaction at ingest: every occurrence becomes a typed placeholder, only the types are kept.

Prompts typed by end users are redacted before anything is stored, embedded or shown to raters.
``redact`` returns the redacted text and the sorted distinct types found. The values found are
never returned, stored or logged, here or by the recognisers this module builds.

Recognised (placeholder ``<TYPE>``)
-----------------------------------
* EMAIL: presidio's pattern (the local part starts with a letter, digit or "_"), kept when the
  domain ends in a public suffix of tldextract's bundled snapshot or in a label of letters only
  (``.local``, a TLD newer than the snapshot): redacting a made-up domain costs nothing.
* PHONE: presidio's ``PhoneRecognizer`` (``phonenumbers``) for ``_PHONE_REGIONS``; "+..."
  numbers from any country. Music look-alikes are dropped by shape (``_plausible_phone``). The
  regions are tried in order until every run of 7+ digits lies inside a number found (a prompt
  with one valid number costs one region's scan instead of 16: 0.3 ms instead of 2-5 ms).
* CARD: presidio's pattern with its Luhn check, plus Luhn-valid 16-digit numbers its pattern
  misses (Mastercard's 2-series); never a number starting 1900-2099 (lists of years).
* IBAN: presidio's recogniser (mod-97 checksum, country format), plus a pass with the same
  validation for lower-case IBANs and IBANs followed by a word in capitals ("... 32 THANKS"),
  which presidio's pattern swallows and then rejects.
* IP: presidio's IPv4/IPv6 patterns, checked by ``ipaddress``. "version 1.2.3.4" becomes
  "version <IP>": a lost version number costs little, a leaked address does not. "1.2.3" stays.
* POSTCODE: UK ("SW1A 1AA"), Canadian in capitals ("K1A 0B1"), US ZIP+4 ("90210-1234"), and a
  5-digit ZIP only after a US state ("CA 90210") or "zip": "track 12345" is no ZIP.
* ADDRESS: a house number, one to four capitalised words and a street suffix ("221B Baker
  Street", "350 5th Ave"); not after "track", "top", "play"..., not a year ("1969 Abbey Road"),
  not with a pronoun ("3 My Way"). "21 Jump Street" is still redacted.
* ID: US social security numbers written with dashes ("123-45-6789", valid area and group) and
  UK National Insurance numbers ("AB 12 34 56 C").

presidio without its engine
---------------------------
``AnalyzerEngine`` needs a spaCy model, which is not installed and must not be downloaded at run
time; the pattern recognisers need none and are called directly with ``nlp_artifacts=None``.
The e-mail check uses a private ``tldextract.TLDExtract`` with no URL and no cache directory:
nothing is fetched and nothing is written under ~/.cache. presidio imports torch and takes
seconds, so the recognisers are built on first use, once, behind a lock.

Scores
------
Without the engine's context words presidio's scores are fixed per pattern: a validated match
(Luhn, checksum, suffix) scores 1.0 and a failed one is dropped; a lower-case IBAN 0.5; IP 0.6
(the bare ``::`` 0.1); every phone number 0.4. ``MIN_SCORES`` asks 0.5 of EMAIL, CARD, IBAN and
IP and 0.4 of PHONE: phone scores cannot tell "tracks 1 2 3 4 5 6 7 8 9 10" from a number, so
shape does. This module's own recognisers score 0.6-0.9 and need 0.5.

Overlaps
--------
Overlapping detections form one group: the longest (then highest-scoring) names the type and
the group's whole extent is replaced, so no fragment of a value survives. Replacement runs right
to left; detection repeats until nothing is found, so ``redact`` is idempotent.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

PII_VERSION = "2"
"""Version of the recognisers; bump it whenever what is detected changes."""

PLACEHOLDERS: dict[str, str] = {
    kind: f"<{kind}>"
    for kind in ("EMAIL", "PHONE", "CARD", "IBAN", "IP", "POSTCODE", "ADDRESS", "ID")
}
"""Type -> placeholder: ``{"EMAIL": "<EMAIL>", "PHONE": "<PHONE>", ...}``."""

MIN_SCORES: dict[str, float] = {
    "EMAIL": 0.5, "CARD": 0.5, "IBAN": 0.5, "IP": 0.5, "PHONE": 0.4, "POSTCODE": 0.5,
    "ADDRESS": 0.5, "ID": 0.5,
}
"""Lowest score a detection of each type needs to be redacted (see the module docstring)."""

_PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP",
}
_PHONE_REGIONS = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "IN", "BR", "AU", "CA", "JP", "MX", "ZA", "NG",
)


@dataclass(frozen=True)
class Redaction:
    """A redacted text and the kinds of PII that were in it (never the values)."""

    text: str
    """The text with each PII occurrence replaced by its placeholder."""
    types: tuple[str, ...]
    """Sorted distinct types found, e.g. ``("EMAIL", "PHONE")``; ``()`` when none."""

    @property
    def found(self) -> bool:
        """Whether any PII was found."""
        return bool(self.types)


class _Span(NamedTuple):
    kind: str
    start: int
    end: int
    score: float


# ---------------------------------------------------------------- this module's own recognisers

_UK_POSTCODE = re.compile(
    r"(?<![\w-])(?:GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRV-Y\d]?)"
    r" ?\d([ABD-HJLNP-UW-Z]{2}))(?![\w-])",
    re.IGNORECASE,
)
_CA_POSTCODE = re.compile(
    r"(?<![\w-])[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d(?![\w-])"
)
_US_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
_UK_NINO = re.compile(
    r"(?<![\w-])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w-])"
)
_ZIP_PLUS_4 = re.compile(r"(?<![\w-])\d{5}-\d{4}(?![\w-])")
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR".split()
    + "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    "Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    "New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    "Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming".split("|")
)
_ZIP_AFTER_STATE = re.compile(
    r"(?<![\w-])(?:(?i:zip(?:\s*code)?)\s*:?|(?:" + "|".join(_US_STATES) + r"),?)"
    r"\s+(\d{5}(?:-\d{4})?)(?![\w-])"
)
_ORDINAL_ENDINGS = {"st", "nd", "rd", "th"}

_STREET_SUFFIX = (
    r"(?:Street|Road|Avenue|Lane|Drive|Boulevard|Way|Court|Place|Terrace|Close|Crescent|Square"
    r"|(?:Rd|Ave|Ln|Blvd|Ct|Pl)\b\.?|(?:St|Dr)\b\.?(?!\s+[A-Z][a-z]))"
)
_ADDRESS = re.compile(
    r"(?<![\w.,+#/-])(?P<number>[1-9]\d{0,4}[A-Za-z]?)(?:-\d{1,5}[A-Za-z]?)?\s+"
    r"(?P<name>(?:(?:[A-Z][a-z'’]+|\d{1,3}(?:st|nd|rd|th))\s+){1,4})"
    + _STREET_SUFFIX + r"(?![\w'’])"
)
_NOT_BEFORE_ADDRESS = {
    "play", "track", "tracks", "song", "songs", "top", "number", "no", "side", "disc", "cd",
    "vol", "volume", "part", "chapter", "episode", "season", "opus", "op", "level", "sum",
}
_NOT_IN_STREET_NAME = {
    "My", "Your", "Our", "Their", "His", "Her", "Its", "No", "This", "That", "Another", "Every",
}
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\W*$")

_CARD_16 = re.compile(r"(?<![\d-])[2-9]\d{3}([ -]?)\d{4}\1\d{4}\1\d{4}(?![\d-])")


def _is_year(digits: str) -> bool:
    return len(digits) == 4 and digits[:2] in {"19", "20"} and digits.isdigit()


def _uk_postcodes(text: str) -> Iterator[_Span]:
    for match in _UK_POSTCODE.finditer(text):
        value = match.group(0)
        inward = (match.group(1) or "").lower()
        if inward in _ORDINAL_ENDINGS and not value.isupper():  # "side a1 2nd verse"
            continue
        yield _Span("POSTCODE", match.start(), match.end(), 0.9)


def _us_and_ca_postcodes(text: str) -> Iterator[_Span]:
    for match in _CA_POSTCODE.finditer(text):
        yield _Span("POSTCODE", match.start(), match.end(), 0.8)
    for match in _ZIP_PLUS_4.finditer(text):
        yield _Span("POSTCODE", match.start(), match.end(), 0.7)
    for match in _ZIP_AFTER_STATE.finditer(text):
        yield _Span("POSTCODE", match.start(1), match.end(1), 0.7)


def _plausible_address(match: re.Match[str], text: str) -> bool:
    if _is_year(match.group("number").rstrip(string.ascii_letters)):
        return False  # a year or a decade: "1969 Abbey Road", "1950s Swift Drive"
    before = _WORD_BEFORE.search(text[max(0, match.start() - 40):match.start()])
    if before and before.group(1).lower() in _NOT_BEFORE_ADDRESS:
        return False  # "Track 5 Penny Lane"
    return not _NOT_IN_STREET_NAME.intersection(match.group("name").split())


def _addresses(text: str) -> Iterator[_Span]:
    for match in _ADDRESS.finditer(text):
        if _plausible_address(match, text):
            yield _Span("ADDRESS", match.start(), match.end(), 0.6)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _cards_16(text: str) -> Iterator[_Span]:
    for match in _CARD_16.finditer(text):
        if _luhn_valid(re.sub(r"\D", "", match.group(0))):
            yield _Span("CARD", match.start(), match.end(), 1.0)


_IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}")


def _longest_iban(text: str, start: int, stop: int) -> _Span | None:
    """The longest IBAN in ``text[start:stop]`` that starts at ``start`` and ends at a word end.

    presidio's pattern can swallow the word after an IBAN ("GB82 WEST ... 32 THANKS") and then
    reject the whole match; this tries every shorter ending with presidio's own validation
    (mod-97 checksum and country format: True for capitals, None when only upper-casing fits).
    """
    validate = _recognisers()["IBAN"].validate_result
    for end in range(stop, start + 14, -1):
        if end < len(text) and text[end].isascii() and text[end].isalnum():
            continue
        valid = validate(text[start:end])
        if valid is not False:
            return _Span("IBAN", start, end, 1.0 if valid else 0.5)
    return None


def _ibans(text: str) -> Iterator[_Span]:
    position = 0
    while match := _IBAN_CANDIDATE.search(text, position):
        span = _longest_iban(text, match.start(), match.end())
        position = span.end if span else match.start() + 1
        if span:
            yield span


def _national_ids(text: str) -> Iterator[_Span]:
    """US social security numbers (with dashes, valid area and group) and UK National
    Insurance numbers."""
    for pattern in (_US_SSN, _UK_NINO):
        for match in pattern.finditer(text):
            yield _Span("ID", match.start(), match.end(), 0.8)


_OWN_RECOGNISERS: tuple[Callable[[str], Iterator[_Span]], ...] = (
    _uk_postcodes, _us_and_ca_postcodes, _addresses, _cards_16, _ibans, _national_ids,
)

# ------------------------------------------------------------------- presidio, built on first use

_DATE = re.compile(
    r"\d{1,2}[ ./-]\d{1,2}[ ./-](?:19|20)\d\d|(?:19|20)\d\d[ ./-]\d{1,2}[ ./-]\d{1,2}"
)


def _phone_groups_plausible(groups: list[str], *, international: bool, lead: str) -> bool:
    if sum(map(len, groups)) < (7 if international else 8):
        return False
    if sum(len(group) == 1 for group in groups) >= 3:
        return False  # "tracks 1 2 3 4 5 6 7 8 9 10"
    if max(map(len, groups)) <= 2 and (lead not in "0+" or sum(map(len, groups)) < 10):
        return False  # "12 34 56 78 90", "01 01 01 01"; "06 12 34 56 78" is French
    years = sum(map(_is_year, groups))
    return years < 2 and not (years and _is_year(groups[0]) and not international)


def _plausible_phone(value: str, *, before: str) -> bool:
    """Whether a ``phonenumbers`` match looks like a phone number rather than music text.

    Rejects a match glued to a word ("Blink-182 2025 2 01"), fewer than 8 digits (7 after "+"),
    three or more one-digit groups, groups of at most two digits without a leading "0" or "+",
    two years or a leading year ("2011 2028 05") and dates ("09 03 1977").
    """
    if before and (before.isalnum() or before in "-./"):
        return False
    groups = re.findall(r"\d+", value)  # phonenumbers reads any script's digits
    international = value.startswith("+")
    if not groups or not _phone_groups_plausible(groups, international=international,
                                                 lead=value[0]):
        return False
    return not _DATE.fullmatch(value)


def _plausible(span: _Span, text: str) -> bool:
    """Shape checks on top of the recognisers, for the types music text imitates.

    A card number never starts 1900-2099 (no network issues those; a list of years passes
    Luhn one time in ten).
    """
    value = text[span.start:span.end]
    if span.kind == "PHONE":
        return _plausible_phone(value, before=text[span.start - 1:span.start])
    if span.kind == "CARD":
        return not _is_year(re.sub(r"[^0-9]", "", value)[:4])
    return True


_DIGIT_RUN = re.compile(r"\d(?:\W{0,4}\d)*")  # digits joined by spaces and punctuation


class _Features(NamedTuple):
    digits: int
    """Digits in the text."""
    run: int
    """Digits in its longest run of digits joined by spaces and punctuation ("+44 (0)20 ...")."""
    at: bool
    colon: bool


def _digit_runs(text: str) -> list[tuple[tuple[int, int], int]]:
    """Each run of digits joined by spaces and punctuation: its span and how many digits."""
    return [(m.span(), sum(c.isdigit() for c in m.group())) for m in _DIGIT_RUN.finditer(text)]


def _features(text: str) -> _Features:
    runs = [digits for _, digits in _digit_runs(text)]
    return _Features(sum(runs), max(runs, default=0), "@" in text, ":" in text)


def _phone_runs(text: str) -> list[tuple[int, int]]:
    """Where a phone number can be: the runs of at least 7 digits (``_PREFILTERS``)."""
    return [span for span, digits in _digit_runs(text) if digits >= 7]


def _covered(runs: list[tuple[int, int]], spans: list[tuple[int, int]]) -> bool:
    """Whether every run lies inside the union of ``spans``."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return all(any(s <= start and end <= e for s, e in merged) for start, end in runs)


_ALPHA_TLD = re.compile(r"\.[A-Za-z]{2,63}$")

# Which presidio recogniser can possibly match a text (skipping the others saves most of the time:
# the phone matcher scans the text once per region).
_PREFILTERS: dict[str, Callable[[_Features], bool]] = {
    "EMAIL": lambda f: f.at,
    "PHONE": lambda f: f.run >= 7,
    "CARD": lambda f: f.run >= 13,
    "IBAN": lambda f: f.digits >= 2,
    "IP": lambda f: f.run >= 4 or f.colon,
}

_LOCK = threading.Lock()
_RECOGNISERS: dict[str, Any] | None = None


def _build_recognisers() -> dict[str, Any]:
    """presidio's pattern recognisers, keyed by our type, made offline (slow: imports presidio)."""
    import phonenumbers
    import tldextract
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
    )

    extractor = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )
    extractor("example.com")  # load the bundled snapshot now, under the lock

    class OfflineEmailRecognizer(EmailRecognizer):
        # Only the domain (tldextract reads "a#b@x.com" as a URL whose host is "a"). Any domain
        # ending in a public suffix, even one that is nothing else ("a.bg" is a suffix), or in
        # letters only: a TLD delegated after tldextract's snapshot is still a TLD.
        def validate_result(self, pattern_text: str) -> bool:
            domain = pattern_text.rpartition("@")[2]
            return bool(_ALPHA_TLD.search(domain)) or extractor(domain).suffix != ""

    class SettlingPhoneRecognizer(PhoneRecognizer):
        # presidio's loop over the regions, ending once every run of 7+ digits lies inside
        # numbers found: each region re-scans the text and re-parses every candidate, and a
        # number in international format is found alike by all 16 (about 0.3 ms each).
        def analyze(self, text, entities, nlp_artifacts=None):  # noqa: ARG002
            runs = _phone_runs(text)
            results = []
            for region in self.supported_regions:
                for match in phonenumbers.PhoneNumberMatcher(text, region,
                                                             leniency=self.leniency):
                    results.append(self._get_recognizer_result(match, text, region,
                                                               nlp_artifacts))
                if _covered(runs, [(r.start, r.end) for r in results]):
                    break
            return self.remove_duplicates(results)

    # phonenumbers compiles its metadata's patterns through re's cache of 512, which 16
    # regions overflow: without its own cache a prompt with a number recompiled some (2-10 ms)
    phonenumbers.enable_pattern_cache()
    phone = SettlingPhoneRecognizer(supported_regions=_PHONE_REGIONS)
    return {
        "EMAIL": OfflineEmailRecognizer(),
        "PHONE": phone,
        "CARD": CreditCardRecognizer(),
        "IBAN": IbanRecognizer(),
        "IP": IpRecognizer(),
    }


def _recognisers() -> dict[str, Any]:
    global _RECOGNISERS
    if _RECOGNISERS is None:
        with _LOCK:
            if _RECOGNISERS is None:
                _RECOGNISERS = _build_recognisers()
                _detect(_warm_text())
    return _RECOGNISERS


def _warm_text() -> str:
    """One of each kind the recognisers find, with every region's example fixed-line and
    mobile numbers in both styles: detecting in it once compiles the patterns phonenumbers and
    presidio compile on first use (up to 25 ms, paid by a prompt otherwise)."""
    import phonenumbers

    phones = [phonenumbers.format_number(phonenumbers.example_number_for_type(region, kind),
                                         style)
              for region in _PHONE_REGIONS
              for kind in (phonenumbers.PhoneNumberType.FIXED_LINE,
                           phonenumbers.PhoneNumberType.MOBILE)
              for style in (phonenumbers.PhoneNumberFormat.NATIONAL,
                            phonenumbers.PhoneNumberFormat.INTERNATIONAL)]
    return " ; ".join([*phones, "(790) 607-8594", "+1 245 358 6169", "ana@example.com",
                       "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32", "192.168.0.1",
                       "2001:db8::1", "SW1A 1AA", "123-45-6789"])


def _presidio_spans(text: str) -> Iterator[_Span]:
    features = _features(text)
    for kind, recogniser in _recognisers().items():
        if not _PREFILTERS[kind](features):
            continue
        for result in recogniser.analyze(
            text, entities=recogniser.supported_entities, nlp_artifacts=None
        ):
            yield _Span(_PRESIDIO_TYPES[result.entity_type], result.start, result.end,
                        result.score)


# ---------------------------------------------------------------------------- resolve and apply

def _detect(text: str) -> list[_Span]:
    spans = list(_presidio_spans(text))
    for recogniser in _OWN_RECOGNISERS:
        spans.extend(recogniser(text))
    return [s for s in spans if s.score >= MIN_SCORES[s.kind] and _plausible(s, text)]


def _resolve(spans: list[_Span]) -> list[_Span]:
    """One span per group of overlapping detections: the group's extent, the winner's type.

    The winner is the longest detection, then the highest score (then the type name, so the
    result does not depend on the order the recognisers ran in).
    """
    groups: list[list[_Span]] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if groups and span.start < max(s.end for s in groups[-1]):
            groups[-1].append(span)
        else:
            groups.append([span])
    resolved = []
    for group in groups:
        winner = max(group, key=lambda s: (s.end - s.start, s.score, s.kind))
        end = max(s.end for s in group)
        resolved.append(_Span(winner.kind, group[0].start, end, winner.score))
    return resolved


def _replace(text: str, spans: list[_Span]) -> str:
    for span in sorted(spans, key=lambda s: s.start, reverse=True):
        text = text[:span.start] + PLACEHOLDERS[span.kind] + text[span.end:]
    return text


def _redact(text: str) -> Redaction:
    found: set[str] = set()
    # Ends: every detection holds a digit, "@" or ":" and the placeholders hold none.
    while spans := _resolve(_detect(text)):
        found.update(span.kind for span in spans)
        text = _replace(text, spans)
    return Redaction(text=text, types=tuple(sorted(found)))


def redact(text: str) -> Redaction:
    """Replace every PII occurrence in ``text`` with its placeholder.

    Parameters
    ----------
    text
        A prompt as typed by an end user.

    Returns
    -------
    Redaction
        The redacted text and the sorted distinct types found; never the values. Redacting
        the returned text again changes nothing and finds no types.

    Raises
    ------
    TypeError
        If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"redact expects a str, got {type(text).__name__}")
    return _redact(text)


def redact_many(texts: Sequence[str]) -> list[Redaction]:
    """``redact`` for a batch, in order; a text repeated in the batch is analysed once.

    Raises
    ------
    TypeError
        If ``texts`` is a single string or holds anything but strings.
    """
    if isinstance(texts, str):
        raise TypeError("redact_many expects a sequence of str, got one str; use redact")
    for item in texts:
        if not isinstance(item, str):
            raise TypeError(f"redact_many expects str items, got {type(item).__name__}")
    done: dict[str, Redaction] = {}
    return [done[t] if t in done else done.setdefault(t, _redact(t)) for t in texts]
