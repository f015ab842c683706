"""`mappings/purposes.yaml`: the consent topics and the policy that settles each."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from consent_sync.config.errors import ConfigIssue
from consent_sync.config.validation import StrictModel, context_of
from consent_sync.config.yaml_source import YamlDocument
from consent_sync.domain.model import Policy, Purpose, Regime

Channel = Literal["email", "sms", "phone", "fax", "postal", "none"]
PolicyName = Literal["revocation_wins", "last_writer_wins", "source_priority"]
RegimeName = Literal["opt_in", "opt_out"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise PydanticCustomError(
            "bad_name", "must start with a lower-case letter and use only a-z, 0-9 and _"
        )
    return name


def _check_system(name: str, info: ValidationInfo) -> str:
    if name not in context_of(info).systems:
        raise PydanticCustomError(
            "unknown_system", f"names {name!r}, which has no connector (connectors/{name}.yaml)"
        )
    return name


#: An API client as a grant source: `api:<token name>` (see docs/api.md).
API_SOURCE = re.compile(r"^api:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_grant_source(name: str, info: ValidationInfo) -> str:
    """A system, or `api:<token name>`: a preference centre calling /api/v1 with that token."""
    if name.startswith("api:"):
        if not API_SOURCE.match(name):
            raise PydanticCustomError(
                "bad_source", "api: must be followed by a token name (letters, digits, _ . -)"
            )
        return name
    return _check_system(name, info)


#: A purpose or system name as written in configuration keys.
Name = Annotated[str, AfterValidator(_check_name)]
SystemRef = Annotated[str, AfterValidator(_check_system)]
GrantSource = Annotated[str, AfterValidator(_check_grant_source)]


class PurposeSpec(StrictModel):
    """One entry of `purposes:`."""

    title: Annotated[str, Field(min_length=1)]
    channel: Channel
    policy: PolicyName = "revocation_wins"
    grant_sources: list[GrantSource] | None = None
    source_priority: list[SystemRef] | None = None
    require_evidence: bool = False
    regime: RegimeName = "opt_in"

    def to_purpose(self, name: str) -> Purpose:
        return Purpose(
            name=name,
            title=self.title,
            channel=self.channel,
            policy=Policy(self.policy),
            grant_sources=None if self.grant_sources is None else frozenset(self.grant_sources),
            source_priority=tuple(self.source_priority or ()),
            require_evidence=self.require_evidence,
            regime=Regime(self.regime),
        )


class PurposesFile(StrictModel):
    """The whole of `mappings/purposes.yaml`."""

    purposes: Annotated[dict[Name, PurposeSpec], Field(min_length=1)]


def check_purposes(doc: YamlDocument, spec: PurposesFile) -> list[ConfigIssue]:
    """What the schema cannot say: policy-dependent keys and lists that must name systems once."""
    issues: list[ConfigIssue] = []
    for name, purpose in spec.purposes.items():
        at = ("purposes", name)
        if purpose.policy == "source_priority" and not purpose.source_priority:
            issues.append(
                doc.issue(
                    (*at, "policy"),
                    f"purpose {name!r} has policy source_priority but no source_priority list",
                )
            )
        if purpose.policy != "source_priority" and purpose.source_priority is not None:
            issues.append(
                doc.issue(
                    (*at, "source_priority"),
                    "source_priority is only used with policy: source_priority",
                )
            )
        if purpose.grant_sources == []:
            issues.append(
                doc.issue(
                    (*at, "grant_sources"),
                    "grant_sources must name at least one system (omit it to let all grant)",
                )
            )
        for key in ("grant_sources", "source_priority"):
            systems: list[str] = getattr(purpose, key) or []
            for position, system in enumerate(systems):
                if system in systems[:position]:
                    issues.append(
                        doc.issue((*at, key, position), f"{key} names {system!r} more than once")
                    )
    return issues
