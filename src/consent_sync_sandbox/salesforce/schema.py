"""Field and sObject types, ids, timestamps and API versions (the objects are in objects.py)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Literal

FieldType = Literal[
    "id", "email", "string", "phone", "boolean", "picklist", "datetime", "reference"
]
SqlParam = str | int | None  # a stored value: text, 0/1, epoch ms, or a referenced sequence


def _release(version: int) -> str:
    """Salesforce ships three releases a year: 31.0 was Summer '14, 32.0 Winter '15, ..."""
    cycle, position = divmod(version - 31, 3)
    season, year = (("Summer", 14), ("Winter", 15), ("Spring", 15))[position]
    return f"{season} '{year + cycle:02d}"


#: Versions the org serves, oldest first: 31.0 up to Winter '27 (68.0), the release in force
#: since October 2026. 7.0-30.0 are retired (answered 410, as Salesforce does since Summer '25).
API_VERSIONS = tuple(f"{v}.0" for v in range(31, 69))
RETIRED_VERSIONS = frozenset(f"{v}.0" for v in range(7, 31))
RELEASES = {f"{v}.0": _release(v) for v in range(31, 69)}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field as describe reports it; `column` is its SQLite column.

    A reference field stores the referenced record's sequence (one target type per field in
    this org) and is rendered as that record's id; `relationship` names the lookup in SOQL
    paths (`DataUsePurpose.Name`). `required` fields must be given on create.
    """

    name: str
    label: str
    type: FieldType
    updateable: bool
    createable: bool
    nillable: bool
    length: int = 0
    picklist: tuple[str, ...] = ()
    custom: bool = False
    reference_to: str = ""
    relationship: str = ""
    required: bool = False

    @property
    def column(self) -> str:
        return f'"{self.name}"'

    @property
    def fold_column(self) -> str:
        """The case-folded copy of an email field, which comparisons use."""
        return f'"{self.name}__fold"'

    @property
    def is_text(self) -> bool:
        return self.type in ("id", "email", "string", "phone", "picklist")


@dataclass(frozen=True, slots=True)
class SObjectSpec:
    """An sObject type: its name, key prefix and fields (case-insensitive lookup)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    _index: dict[str, FieldSpec] = dataclass_field(
        init=False, repr=False, compare=False, hash=False
    )
    _relationships: dict[str, FieldSpec] = dataclass_field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {f.name.lower(): f for f in self.fields})
        lookups = {f.relationship.lower(): f for f in self.fields if f.relationship}
        object.__setattr__(self, "_relationships", lookups)

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, compared case-insensitively as SOQL does."""
        return self._index.get(name.lower())

    def lookup(self, relationship: str) -> FieldSpec | None:
        """The reference field behind relationship name `relationship` (`Party` -> PartyId)."""
        return self._relationships.get(relationship.lower())

    @property
    def table(self) -> str:
        return f'"{self.name}"'

    @property
    def stored(self) -> tuple[FieldSpec, ...]:
        """Every field but Id, which is the row's sequence."""
        return tuple(f for f in self.fields if f.type != "id")


def _checksum(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << bit
        suffix += _CHECKSUM[flags]
    return suffix


def make_id(prefix: str, sequence: int) -> str:
    """An 18-character Salesforce id: key prefix, pod, sequence in base 62, checksum."""
    digits = ""
    for _ in range(9):
        sequence, rem = divmod(sequence, 62)
        digits = _BASE62[rem] + digits
    id15 = f"{prefix}Dn0{digits}"
    return id15 + _checksum(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if it is malformed."""
    if not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + _checksum(value)
    return value if _checksum(value[:15]) == value[15:] else None


def format_datetime(ms: int) -> str:
    """Salesforce's JSON datetime form, e.g. 2024-05-20T20:49:32.000+0000."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (sub-millisecond digits dropped)."""
    return int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000


def fold_text(value: str) -> str:
    """Case- and normalization-insensitive form, as SOQL compares text."""
    return unicodedata.normalize("NFC", value).casefold()


def id_sequence(spec: SObjectSpec, record_id: str) -> int | None:
    """The storage sequence behind an id of this sObject type, or None if it names none."""
    normalized = normalize_id(record_id)
    if normalized is None or not normalized.startswith(f"{spec.key_prefix}Dn0"):
        return None
    sequence = 0
    for char in normalized[6:15]:
        sequence = sequence * 62 + _BASE62.index(char)
    return sequence
