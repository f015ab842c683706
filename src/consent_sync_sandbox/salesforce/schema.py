"""The sObjects the emulator serves: fields as describe reports them, ids, timestamps."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

FieldType = Literal["id", "email", "string", "phone", "boolean", "picklist", "datetime"]

API_VERSIONS = ("57.0", "58.0", "59.0", "60.0", "61.0", "62.0")
RELEASES = {
    "57.0": "Spring '23",
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field as describe reports it; `column` is its SQLite column."""

    name: str
    label: str
    type: FieldType
    updateable: bool
    createable: bool
    nillable: bool
    length: int = 0
    picklist: tuple[str, ...] = ()
    custom: bool = False

    @property
    def column(self) -> str:
        return f'"{self.name}"'

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

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, compared case-insensitively as SOQL does."""
        return _FIELD_INDEX[self.name].get(name.lower())

    @property
    def table(self) -> str:
        return f'"{self.name}"'


def _person_fields() -> tuple[FieldSpec, ...]:
    sms = ("Opted In", "Opted Out")
    return (
        FieldSpec("Id", "Contact ID", "id", False, False, False, 18),
        FieldSpec("IsDeleted", "Deleted", "boolean", False, False, False),
        FieldSpec("FirstName", "First Name", "string", True, True, True, 40),
        FieldSpec("LastName", "Last Name", "string", True, True, False, 80),
        FieldSpec("Email", "Email", "email", True, True, True, 80),
        FieldSpec("Phone", "Business Phone", "phone", True, True, True, 40),
        FieldSpec("HasOptedOutOfEmail", "Email Opt Out", "boolean", True, True, False),
        FieldSpec("DoNotCall", "Do Not Call", "boolean", True, True, False),
        FieldSpec("HasOptedOutOfFax", "Fax Opt Out", "boolean", True, True, False),
        FieldSpec("SMS_Consent__c", "SMS Consent", "picklist", True, True, True, 255, sms, True),
        FieldSpec("CreatedDate", "Created Date", "datetime", False, False, False),
        FieldSpec("LastModifiedDate", "Last Modified Date", "datetime", False, False, False),
        FieldSpec("SystemModstamp", "System Modstamp", "datetime", False, False, False),
    )


CONTACT = SObjectSpec("Contact", "Contact", "Contacts", "003", _person_fields())
LEAD = SObjectSpec("Lead", "Lead", "Leads", "00Q", _person_fields())
SOBJECTS: dict[str, SObjectSpec] = {"contact": CONTACT, "lead": LEAD}
_FIELD_INDEX = {spec.name: {f.name.lower(): f for f in spec.fields} for spec in SOBJECTS.values()}


def sobject(name: str) -> SObjectSpec | None:
    """The sObject type called `name` (case-insensitive), if the emulator serves it."""
    return SOBJECTS.get(name.lower())


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
