"""Response models: what the JSON routes answer, so /openapi.json documents each answer.

The use cases (`indexer.usecases`) build plain dicts; these models describe
them at the HTTP edge. Items allow extra keys, so a field a use case adds
shows up before its model says so, and nothing is dropped on the way out.
Numbers that are whole in one answer and fractional in another are `Number`,
so a count stays `3` and never becomes `3.0`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Number = int | float


class Item(BaseModel):
    model_config = ConfigDict(extra="allow")


class PostmortemSummary(Item):
    id: str
    title: str
    date: str
    path: str
    severity: str | None
    status: str | None
    type: str | None
    services: list[str]
    error_classes: list[str]
    contributing_factors: list[str]


class PostmortemPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[PostmortemSummary]


class Reason(Item):
    kind: str
    value: str | None


class RelatedPostmortem(Item):
    id: str
    title: str
    date: str
    services: list[str]
    error_classes: list[str]
    score: Number
    strength: Literal["strong", "partial", "weak"]
    when: Literal["earlier", "later"]
    reasons: list[Reason]


class RelatedResponse(BaseModel):
    id: str
    semantic: bool
    items: list[RelatedPostmortem]


class DuplicatePairs(BaseModel):
    threshold: Number
    items: list[Item]


class Incident(Item):
    source: str
    source_id: str
    title: str
    service: str
    severity: str | None
    started_at: str
    detected_at: str | None
    acknowledged_at: str | None
    mitigated_at: str | None
    resolved_at: str | None
    error_classes: list[str]
    postmortem: str | None


class IncidentPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[Incident]


class UnmappedServices(BaseModel):
    items: list[Item]


class Problem(BaseModel):
    path: str
    line: int
    message: str
    indexed: bool


class Problems(BaseModel):
    items: list[Problem]


class FailureMode(BaseModel):
    error_class: str
    incidents: int
    previous: int
    change: int


class FailureModes(BaseModel):
    since: str
    until: str
    days: int
    items: list[FailureMode]


class ServiceCount(BaseModel):
    service: str
    incidents: int


class ServiceCounts(BaseModel):
    since: str
    until: str
    days: int
    items: list[ServiceCount]


class DurationTrend(Item):
    metric: Literal["mttr", "mtta", "mttd"]
    period: Literal["week", "month", "quarter"]
    as_of: str
    series: list[Item]
    trend: str | None
    trend_change: Number | None


class ErrorBudget(Item):
    period: Literal["week", "month", "quarter"]
    as_of: str
    periods: list[str]
    items: list[Item]


class Investment(Item):
    error_class: str
    score: Number


class Investments(Item):
    since: str
    until: str
    items: list[Investment]


class ResilienceTarget(Item):
    id: str
    status: str
    quarters: list[Item]


class Targets(Item):
    as_of: str
    items: list[ResilienceTarget]


class ActionItem(Item):
    id: str
    title: str
    status: str
    owner: str | None
    due: str | None
    overdue: bool
    days_overdue: int | None
    postmortem: str
    postmortem_title: str


class ActionItems(BaseModel):
    total: int
    items: list[ActionItem]


class Health(BaseModel):
    status: Literal["ok"]


class PostmortemRecord(PostmortemSummary):
    """One postmortem; the nested parts (timestamps, impact, history, ...) as stored."""

    visibility: str
    teams: list[str]
    tags: list[str]
    authors: list[str]
    owner: str | None
    body_markdown: str
    body_html: str
    action_items: list[Item]
    related: list[str]
    duplicate_of: str | None
    history: Item | None
    incidents: list[Item]


class Scope(BaseModel):
    """What a review is narrowed to: a name, several (a list), or null for all."""

    service: str | list[str] | None
    error_class: str | list[str] | None


class ReviewIncident(Item):
    """An incident of the week; `postmortem_missing` flags a severe one filed without one."""

    source: str
    source_id: str
    title: str
    service: str
    severity: str | None
    started_at: str
    resolved_at: str | None
    error_classes: list[str]
    postmortem: str | None
    postmortem_hidden: bool
    postmortem_missing: bool


class OwnerOverdue(Item):
    owner: str | None
    count: int
    most_days_overdue: int | None
    items: list[ActionItem]


class WeeklyReview(Item):
    since: str
    until: str
    scope: Scope
    latest_incident_day: str | None
    incidents: list[ReviewIncident]
    postmortems: list[PostmortemSummary]
    action_items_missing_owner_or_due: list[ActionItem]
    overdue_action_items: list[ActionItem]
    overdue_by_owner: list[OwnerOverdue]
    suspected_duplicates: list[list[ReviewIncident]]  # groups that started within the hour
    near_misses: list[Item]


class MonthlyReview(Item):
    as_of: str
    scope: Scope
    failure_modes: FailureModes
    services: ServiceCounts
    error_budget: ErrorBudget
    mttr: DurationTrend
    mtta: DurationTrend
    mttd: DurationTrend


class QuarterlyReview(Item):
    as_of: str
    scope: Scope
    targets: list[ResilienceTarget]
    investments: Investments


class Digest(Item):
    week: str
    since: str
    until: str
    items: list[Item]
    markdown: str
    html: str


class NearMissLog(Item):
    as_of: str
    since: str | None
    recommended: int
    groups: list[Item]


class AuditLog(BaseModel):
    items: list[Item]


class PackCandidate(Item):
    """A postmortem the presenter may add to the pack."""

    id: str
    title: str
    date: str


class PresenterPack(Item):
    postmortem: Item
    related: list[RelatedPostmortem]
    comparison: list[Item]
    candidates: list[PackCandidate]
    added: list[str]
    removed: list[str]


class ClassPack(Item):
    error_class: str
    postmortems: list[Item]
    comparison: list[Item]


class Readiness(Item):
    status: Literal["ready", "not ready"]
    database: bool
    fulltext: bool
    semantic: bool
    semantic_status: Item
    postmortems: int | None = None
    indexed_at: str | None = None
    sync: Item | None = None


class RowMessage(BaseModel):
    row: int
    message: str


class ImportReport(Item):
    """What an import stored; answered 422 (same shape) when every record was rejected."""

    source: str
    dry_run: bool
    added: int
    updated: int
    rejected: int
    errors: list[RowMessage]
    warnings: list[RowMessage]
    unmapped_services: list[str]
    stale: list[str]


class IntakeAnswer(Item):
    """A stored webhook delivery's outcome; the rest (counts of what it stored) by vendor."""

    status: str
    delivery: int | None
    detail: str | None = None


class NearMissRecorded(Item):
    id: int
    date: str
    service: str
    what_failed: str
    caught_by: str
    corrective_action: str | None
    source: str
    group_count: int
    postmortem_recommended: bool


class Delivery(Item):
    id: int
    received_at: str
    vendor: str
    event: str
    signature: str
    outcome: str
    detail: str
    attempts: int
    size: int
    headers: dict[str, object]
    processed_at: str | None


class DeliveryLog(BaseModel):
    outcomes: list[str]
    items: list[Delivery]
    next_before: int | None


class ErrorClassEntry(Item):
    name: str
    title: str
    description: str
    postmortems: int
    postmortems_url: str
    incidents: int
    previous: int
    incidents_url: str
    url: str


class ErrorClassIndex(Item):
    as_of: str
    since: str
    until: str
    items: list[ErrorClassEntry]


class Listed(Item):
    """A drill-down section: how many there are, the first of them, and where the rest are."""

    total: int
    items: list[Item]
    url: str


class PostmortemsListed(Listed):
    items: list[PostmortemSummary]  # type: ignore[assignment]


class IncidentsListed(Listed):
    items: list[Incident]  # type: ignore[assignment]


class ActionItemsListed(Listed):
    overdue: int
    items: list[ActionItem]  # type: ignore[assignment]


class Overview(Item):
    """One service or error class (`kind`) with its postmortems, incidents, trends, actions."""

    kind: Literal["service", "error_class"]
    name: str
    description: str
    as_of: str
    postmortems: PostmortemsListed
    incidents: IncidentsListed
    trends: Item
    action_items: ActionItemsListed


class OncallDelivery(Item):
    """One channel's message of an incident's precedents; `items` counts the precedents."""

    id: int
    channel: str
    source: str
    source_id: str
    alert: str
    status: str
    attempts: int
    next_attempt_at: str
    created_at: str
    sent_at: str | None
    last_error: str | None
    items: int


class OncallDeliveries(BaseModel):
    items: list[OncallDelivery]


class SlackAnswer(Item):
    """A slash command's answer as Slack Block Kit, seen only by whoever asked."""

    response_type: str
    text: str
    blocks: list[Item]


def json_or_markdown(model: type[BaseModel], what: str) -> dict[int | str, dict[str, object]]:
    """OpenAPI for a route that answers `model` as JSON, or Markdown with `format=markdown`."""
    return {
        200: {
            "description": f"{what}: JSON, or Markdown with format=markdown",
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
            "model": model,
        }
    }
