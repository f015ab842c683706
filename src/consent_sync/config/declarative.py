"""The declarative connector spec: a system reached over HTTP/JSON, described in YAML
(`connectors/<system>.yaml` with `type: declarative`; every key is in docs/connectors.md).

The read side is shaped after Airbyte's declarative manifest (requester, record selector,
paginator, incremental cursor); the write side adds what a consent sync needs: batch writes with
their per-item results, OData `$batch`, and an error classification that tells a retry from a
record that is gone or a value the system cannot take. These models only say what the YAML may
hold; `check_declarative` adds what spans keys; the connector that runs a spec is
`consent_sync.connectors.declarative`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from consent_sync.config.declarative_paths import PathError, RecordPath, parse_path
from consent_sync.config.declarative_templates import check_template
from consent_sync.config.validation import EnvText, EnvUrl, Secret, StrictModel
from consent_sync.domain.mapping import RawValue

#: What a classified error means (docs/connectors.md, "Errors").
Action = Literal["transient", "permanent", "gone", "unrepresentable", "auth", "quota", "expired"]
Order = Literal["ascending", "descending", "unordered"]
WriteMethod = Literal["POST", "PUT", "PATCH"]


def _path(value: object) -> RecordPath:
    if isinstance(value, RecordPath):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("path_type", "must be a path (text such as members or a.b[0])")
    try:
        return parse_path(value)
    except PathError as exc:
        raise PydanticCustomError("bad_path", f"is not a valid path: it {exc}") from None


def _pattern(value: object) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise PydanticCustomError("pattern_type", "must be a regular expression (text)")
    try:
        return re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "bad_pattern", f"is not a valid regular expression ({exc})"
        ) from None


def _template(value: Any) -> Any:
    """A setting that may hold templates anywhere inside it; each one must compile."""
    if isinstance(value, str):
        problem = check_template(value)
        if problem is not None:
            raise PydanticCustomError("bad_template", problem)
    elif isinstance(value, dict):
        for item in value.values():
            _template(item)
    elif isinstance(value, list):
        for item in value:
            _template(item)
    return value


def _blank_to_none(value: str | None) -> str | None:
    # A CA file variable set but empty means the system's CAs, as for the other connectors.
    return value or None


def _statuses(value: object) -> object:
    # `status: 429`, `status: [500, 503]` and `status: 5xx` all name a set of HTTP statuses.
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return value


def _status_class(value: str) -> str:
    if not re.fullmatch(r"[1-5]xx", value):
        raise PydanticCustomError("bad_status", "must be a status like 404, a list, or 4xx/5xx")
    return value


def _shorthand_fields(value: object) -> object:
    # `gdpr_email: marketing_permissions[marketing_permission_id=x].enabled` is the path alone.
    if isinstance(value, dict):
        return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
    return value


Path = Annotated[RecordPath, BeforeValidator(_path)]
Pattern = Annotated[re.Pattern[str], BeforeValidator(_pattern)]
Template = Annotated[Any, AfterValidator(_template)]
PathTemplate = Annotated[str, Field(min_length=1)]  # `{name}` placeholders, checked across keys
HttpStatus = Annotated[int, Field(ge=100, le=599)]
StatusClass = Annotated[str, AfterValidator(_status_class)]
Name = Annotated[str, Field(min_length=1)]

# -- auth --------------------------------------------------------------------------------------


class BearerAuth(StrictModel):
    """`Authorization: Bearer <token>`."""

    type: Literal["bearer"]
    token: Secret


class ApiKeyAuth(StrictModel):
    """An API key in a header (`header: X-Api-Key`, optional `prefix`) or a query parameter."""

    type: Literal["api_key"]
    key: Secret
    header: Name | None = None
    query: Name | None = None
    prefix: str = ""

    @model_validator(mode="after")
    def _one_place(self) -> ApiKeyAuth:
        if (self.header is None) == (self.query is None):
            raise PydanticCustomError("api_key_place", "api_key auth needs one of header, query")
        return self


class BasicAuth(StrictModel):
    """HTTP Basic: `username` and `password` (Mailchimp: any user name, the API key)."""

    type: Literal["basic"]
    username: EnvText
    password: Secret


class OAuthClientCredentials(StrictModel):
    """OAuth 2.0 client credentials at `token_url`; the token is kept until it expires and
    fetched again once when a request is refused with 401."""

    type: Literal["oauth_client_credentials"]
    token_url: EnvUrl
    client_id: EnvText
    client_secret: Secret
    scope: EnvText | None = None


Auth = Annotated[
    BearerAuth | ApiKeyAuth | BasicAuth | OAuthClientCredentials, Field(discriminator="type")
]

# -- errors ------------------------------------------------------------------------------------


class ErrorRule(StrictModel):
    """What an answer means: the first rule whose `status` and every `body` pattern match wins.

    `body` maps a path in the JSON answer (or a batch item's error) to a regular expression it
    must contain. `retry_after`: seconds to wait for a `transient` answer without Retry-After.
    """

    status: Annotated[list[HttpStatus] | StatusClass | None, BeforeValidator(_statuses)] = None
    body: dict[Name, Pattern] = Field(default_factory=dict)
    action: Action
    retry_after: Annotated[float, Field(ge=0)] | None = None

    @property
    def paths(self) -> dict[str, RecordPath]:
        return {text: parse_path(text) for text in self.body}


class QuotaHeaders(StrictModel):
    """Response headers that report API quota (any two of used, limit, remaining)."""

    used: Name | None = None
    limit: Name | None = None
    remaining: Name | None = None


class Requester(StrictModel):
    """Where the API is and how every request to it is sent (timeouts and the rate budget are
    the connector's `limits`, as for every system)."""

    base_url: EnvUrl
    headers: dict[Name, EnvText] = Field(default_factory=dict)
    ca_file: Annotated[EnvText | None, AfterValidator(_blank_to_none)] = None
    errors: list[ErrorRule] = Field(default_factory=list)
    quota: QuotaHeaders | None = None


# -- reading -----------------------------------------------------------------------------------


class OffsetPaginator(StrictModel):
    """`?<limit_param>=N&<offset_param>=K`; stops at `total` or at a short page."""

    type: Literal["offset"]
    page_size: Annotated[int, Field(ge=1)]
    limit_param: Name = "limit"
    offset_param: Name = "offset"
    total: Path | None = None


class PageNumberPaginator(StrictModel):
    """`?<page_param>=P&<size_param>=N`, pages counted from `start`; stops at a short page."""

    type: Literal["page_number"]
    page_size: Annotated[int, Field(ge=1)]
    page_param: Name = "page"
    size_param: Name | None = "page_size"
    start: Annotated[int, Field(ge=0)] = 1
    total_pages: Path | None = None


class NextLinkPaginator(StrictModel):
    """The answer holds the URL of the next page (`@odata.nextLink`), on the same host."""

    type: Literal["next_link"]
    path: Path


class CursorPaginator(StrictModel):
    """The answer holds a token (`paging.next.after`) sent back as the query parameter `param`."""

    type: Literal["cursor"]
    path: Path
    param: Name


class NoPaginator(StrictModel):
    """One answer holds every record."""

    type: Literal["none"]


Paginator = Annotated[
    OffsetPaginator | PageNumberPaginator | NextLinkPaginator | CursorPaginator | NoPaginator,
    Field(discriminator="type"),
]

#: How `{{ since }}` is written: ISO 8601 with `+00:00`, with `Z`, or epoch (ms or s).
SinceFormat = Literal["iso8601", "iso8601_z", "epoch_ms", "epoch_s"]


class DatetimeCursor(StrictModel):
    """Changed records by their stamp: `params` (with `{{ since }}`) are sent when there is a
    cursor; the engine's `limits.lookback_seconds` is already taken off `since`."""

    type: Literal["datetime"]
    params: dict[Name, Template]
    format: SinceFormat = "iso8601"


class ChangeTracking(StrictModel):
    """An opaque change token: the first read sends `headers`/`params` (`Prefer:
    odata.track-changes`), its last page holds the link to changes at `delta_link`; the next
    pull follows that link instead of reading everything."""

    type: Literal["change_tracking"]
    delta_link: Path
    headers: dict[Name, EnvText] = Field(default_factory=dict)
    params: dict[Name, Template] = Field(default_factory=dict)


Incremental = Annotated[DatetimeCursor | ChangeTracking, Field(discriminator="type")]


class DeletedMarker(StrictModel):
    """Which records are deletions: `path` holds a value matching `matches` (or, without it,
    any value that is not null/false); `id` is where such a record keeps its id."""

    path: Path
    matches: Pattern | None = None
    id: Path | None = None


class FieldTime(StrictModel):
    """A field's own decision time at `path`, used only while the field holds one of `when`."""

    path: Path
    when: list[RawValue] | None = None


class FieldSpec(StrictModel):
    """A field the mapping names: where its value sits (default: the key of the same name),
    its own decision time, and the evidence the system stores with it (evidence key -> path)."""

    path: Path | None = None
    time: FieldTime | None = None
    evidence: dict[Name, Path] = Field(default_factory=dict)


class ReadSpec(StrictModel):
    """Reading records by id: a path with `{id}` (one request each; 404 means missing) or a
    request whose params name many `{{ ids }}`, `max_ids` at a time."""

    path: PathTemplate
    params: dict[Name, Template] = Field(default_factory=dict)
    headers: dict[Name, EnvText] = Field(default_factory=dict)
    records: Path | None = None
    max_ids: Annotated[int, Field(ge=1, le=1000)] = 50


# -- writing -----------------------------------------------------------------------------------


class ItemRule(StrictModel):
    """How a batch item's error reads: `where` maps a path in the error item to a pattern."""

    where: dict[Name, Pattern] = Field(default_factory=dict)
    action: Action

    @property
    def paths(self) -> dict[str, RecordPath]:
        return {text: parse_path(text) for text in self.where}


class ItemResults(StrictModel):
    """Where a JSON batch answer says how each item went, matched to items by `match`."""

    match: Literal["email", "id"]
    ok: list[Path] = Field(default_factory=list)
    ok_key: Path | None = None
    errors: Path | None = None
    error_key: Path | None = None
    message: Path | None = None
    code: Path | None = None
    rules: list[ItemRule] = Field(default_factory=list)
    unlisted: Literal["retry", "ok"] = "retry"


class BatchRequest(StrictModel):
    """One request inside an OData `$batch` (per record): method, path from `base_url`,
    headers (`If-Match: '*'` keeps a PATCH from creating a missing record)."""

    method: WriteMethod = "PATCH"
    path: PathTemplate
    headers: dict[Name, EnvText] = Field(default_factory=dict)


class WriteSpec(StrictModel):
    """Writing records: one request per record (`{id}` in `path`) or per batch of `max_items`.

    `item` adds templated keys to each record's body, which holds the written values at their
    paths; `body` wraps a batch (`{{ items }}`). `format: odata_batch` sends a multipart `$batch`
    of `request`s instead (one response part per record).
    """

    path: PathTemplate
    method: WriteMethod = "POST"
    format: Literal["json", "odata_batch"] = "json"
    max_items: Annotated[int, Field(ge=1, le=1000)] = 1
    body: Template = None
    item: dict[Name, Template] = Field(default_factory=dict)
    headers: dict[Name, EnvText] = Field(default_factory=dict)
    results: ItemResults | None = None
    request: BatchRequest | None = None
    changeset: bool = False
    errors: list[ErrorRule] = Field(default_factory=list)
    #: Which records are read back before they are written: all (`always`), or only those
    #: receiving anything but a denial (`grants`), for systems that read records one call each.
    read_back: Literal["always", "grants"] = "always"


# -- describing --------------------------------------------------------------------------------


class DescribedField(StrictModel):
    """A field as `validate --live` should know it, when no endpoint describes it."""

    type: Name = "string"
    writable: bool = True
    options: list[str] = Field(default_factory=list)


class DescribeEndpoint(StrictModel):
    """An endpoint listing field definitions: where the list is, and in each definition its
    name, type, and writability (`writable` true when writable, or `read_only` true when not)."""

    path: PathTemplate
    params: dict[Name, Template] = Field(default_factory=dict)
    records: Path
    name: Path
    type: Path
    writable: Path | None = None
    read_only: Path | None = None
    options: Path | None = None


class DescribeSpec(StrictModel):
    """How `validate --live` learns the fields: an endpoint, fixed `fields`, or both (fixed
    entries win)."""

    endpoint: DescribeEndpoint | None = None
    fields: dict[Name, DescribedField] = Field(default_factory=dict)


# -- a stream ----------------------------------------------------------------------------------


class Stream(StrictModel):
    """One object type (the mapping's object of the same name): how to list, read and write it."""

    path: PathTemplate
    params: dict[Name, Template] = Field(default_factory=dict)
    headers: dict[Name, EnvText] = Field(default_factory=dict)
    records: Path
    id: Path
    modified: Path | None = None
    order: Order = "unordered"
    paginator: Paginator = NoPaginator(type="none")
    incremental: Incremental | None = None
    deleted: DeletedMarker | None = None
    fields: Annotated[dict[Name, FieldSpec], BeforeValidator(_shorthand_fields)] = Field(
        default_factory=dict
    )
    read: ReadSpec | None = None
    write: WriteSpec | None = None
    describe: DescribeSpec | None = None
