"""Country names and ISO 3166-1 alpha-2 codes for the ``country`` converter."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

import pycountry

# English names come from pycountry (ISO 3166-1: name, common and official name); the aliases add
# common abbreviations and older names people still type. (phonenumbers' geocoder would also know
# the names, but loading its data costs about 100 MB of memory.)
_COUNTRY_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "czechia": "CZ",
    "north macedonia": "MK",
    "eswatini": "SZ",
    "turkiye": "TR",
    "cabo verde": "CV",
    "holy see": "VA",
    "vatican city": "VA",
    "korea": "KR",
    "republic of korea": "KR",
    "russian federation": "RU",
    "viet nam": "VN",
    "ivory coast": "CI",
    "the netherlands": "NL",
    "holland": "NL",
    "saint barthelemy": "BL",
    "saint martin": "MF",
    "western sahara": "EH",
    "kosovo": "XK",
}


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace("’", "'").split())


@cache
def country_table() -> Mapping[str, str]:
    """Folded English name, alias or alpha-2 code -> ISO 3166-1 alpha-2 code (built once)."""
    table: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        table[code.lower()] = code
        for attribute in ("name", "common_name", "official_name"):
            name = getattr(country, attribute, None)
            if name:
                table[fold(name)] = code
    table.update({fold(alias): code for alias, code in _COUNTRY_ALIASES.items()})
    for code in set(_COUNTRY_ALIASES.values()):
        table.setdefault(code.lower(), code)
    return MappingProxyType(table)
