"""Response models: what the JSON routes answer, so /openapi.json documents each answer.

The use cases (`indexer.usecases`) build plain dicts; these models describe
them at the HTTP edge. Items allow extra keys, so a field a use case adds
shows up before its model says so, and nothing is dropped on the way out.
Numbers that are whole in one answer and fractional in another are `Number`,
so a count stays `3` and never becomes `3.0`.
"""

from __future__ import annotations

from typing import Any, Literal

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


def _sometimes(**properties: dict[str, object]) -> ConfigDict:
    """An item's config whose schema also lists keys only some answers carry.

    Declared as fields they would be sent as null where absent; listed in the
    schema they are documented and sent only where they belong.
    """

    def add(schema: dict[str, Any]) -> None:
        schema.setdefault("properties", {}).update(properties)

    return ConfigDict(extra="allow", json_schema_extra=add)


class Reason(Item):
    """Why a postmortem is related: `error_class`, `service`, `linked`, `similar_passage` (with
    the closest `passage` of the other postmortem and its `similarity`), or `chosen` (a
    presenter added it to a pack; no value)."""

    model_config = _sometimes(
        passage={"type": "string", "title": "Passage"},
        similarity={"type": "number", "title": "Similarity"},
    )

    kind: str
    value: str | None = None


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


class PostmortemRef(Item):
    id: str
    title: str
    date: str


class DuplicatePair(Item):
    """Two postmortems that say nearly the same thing: the newer one, the older one it may
    repeat, and `marked` when either already names the other in `duplicate_of`."""

    similarity: float
    postmortem: PostmortemRef
    possible_duplicate_of: PostmortemRef
    marked: bool


class DuplicatePairs(BaseModel):
    threshold: Number
    items: list[DuplicatePair]


class IncidentHead(Item):
    """What every incident answer starts with: where it came from, what and when."""

    source: str
    source_id: str
    title: str
    service: str
    severity: str | None
    started_at: str


class Incident(IncidentHead):
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


class UnmappedService(Item):
    """A service name incidents carry that no taxonomy service claims, with the closest one."""

    service: str
    incidents: int
    sources: list[str]
    suggestion: str | None


class UnmappedServices(BaseModel):
    items: list[UnmappedService]


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


def _seconds(metric: str, statistic: str) -> dict[str, object]:
    return {
        "anyOf": [{"type": "number"}, {"type": "null"}],
        "title": f"{metric.capitalize()} Seconds {statistic.capitalize()}",
    }


class DurationPoint(Item):
    """One period of a duration trend: incidents started, how many of them measured, and
    the median, mean and p90 in seconds (null without a measure) under the metric's own
    names (`mttr_seconds_median` ...; only the asked metric's three)."""

    model_config = _sometimes(
        **{
            f"{metric}_seconds_{statistic}": _seconds(metric, statistic)
            for metric in ("mttr", "mtta", "mttd")
            for statistic in ("median", "mean", "p90")
        }
    )

    period: str
    incidents: int
    measured: int


class DurationTrend(Item):
    metric: Literal["mttr", "mtta", "mttd"]
    period: Literal["week", "month", "quarter"]
    as_of: str
    series: list[DurationPoint]
    trend: str | None
    trend_change: Number | None


class BudgetPeriod(Item):
    period: str
    minutes: Number
    incidents_with_budget: int


class BudgetRow(Item):
    """A service's error-budget minutes over the periods asked for, and per period."""

    service: str
    minutes: Number
    series: list[BudgetPeriod]


class ErrorBudget(Item):
    period: Literal["week", "month", "quarter"]
    as_of: str
    periods: list[str]
    items: list[BudgetRow]


class Investment(Item):
    error_class: str
    score: Number


class Investments(Item):
    since: str
    until: str
    items: list[Investment]


class TargetQuarter(Item):
    """A quarter of a target so far: its incidents, and whether it is over (`complete`)."""

    quarter: str
    incidents: int
    complete: bool


class ResilienceTarget(Item):
    """A target from targets.yaml (incidents per quarter of an error class, a service or both)
    with its quarters so far and its status."""

    # In the order answers have always had: id, status and quarters first.
    id: str
    status: Literal["met", "on_track", "at_risk", "missed", "did_not_move_the_metric"]
    quarters: list[TargetQuarter]
    error_class: str | None
    service: str | None
    baseline_per_quarter: Number
    target_per_quarter: Number
    start: str
    deadline: str
    owner: str | None
    investment: str | None


class Targets(Item):
    as_of: str
    items: list[ResilienceTarget]


class ActionItem(Item):
    """An action item across the library, with the postmortem it belongs to."""

    id: str
    title: str
    type: str | None
    priority: str | None
    ticket: str | None
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


class PostmortemActionItem(Item):
    """An action item as its postmortem lists it; `overdue` when open or in progress past due."""

    id: str
    title: str
    type: str | None
    priority: str | None
    owner: str | None
    due: str | None
    status: str
    ticket: str | None
    overdue: bool


class Detection(Item):
    method: str | None
    alert: str | None


class Timestamps(Item):
    started_at: str | None
    detected_at: str | None
    acknowledged_at: str | None
    mitigated_at: str | None
    resolved_at: str | None


class Durations(Item):
    """Seconds from the start of the incident (docs/metrics.md); null when a time is missing."""

    time_to_detect_seconds: int | None
    time_to_acknowledge_seconds: int | None
    time_to_mitigate_seconds: int | None
    time_to_resolve_seconds: int | None


class Impact(Item):
    customer_facing: bool | None
    summary: str | None
    slo: str | None
    error_budget_minutes: Number | None


class LineProblem(BaseModel):
    """A lint error the postmortem was indexed with."""

    line: int
    message: str


class PostmortemDetail(PostmortemSummary):
    """One postmortem as the library stores it: metadata, times, impact, body, action items."""

    visibility: str
    teams: list[str]
    tags: list[str]
    authors: list[str]
    owner: str | None
    trigger: str | None
    detection: Detection
    timestamps: Timestamps
    durations: Durations
    impact: Impact
    mitigation_maturity: str | None
    external_refs: dict[str, list[str]]
    related: list[str]
    duplicate_of: str | None
    action_items: list[PostmortemActionItem]
    problems: list[LineProblem]
    body_markdown: str
    body_html: str


class LinkedIncident(IncidentHead):
    """An incident; its postmortem (and the title it was filed with) only if the reader may
    read it, `postmortem_hidden` when not."""

    resolved_at: str | None
    error_classes: list[str]
    postmortem: str | None
    postmortem_hidden: bool


class History(Item):
    """Where a postmortem of a followed git repository came from."""

    created_at: str | None
    updated_at: str | None
    authors: list[str]
    commit: str
    web_url: str | None


class TicketedActionItem(PostmortemActionItem):
    """An action item with its ticket's tracker URL (PML_TICKET_URLS; null without a rule)."""

    ticket_url: str | None


class PostmortemRecord(PostmortemDetail):
    """One postmortem with ticket links, its git history (null unless the library follows a
    repository) and its linked incidents."""

    action_items: list[TicketedActionItem]  # type: ignore[assignment]
    history: History | None
    incidents: list[LinkedIncident]


class Scope(BaseModel):
    """What a review is narrowed to: a name, several (a list), or null for all."""

    service: str | list[str] | None
    error_class: str | list[str] | None


class ReviewIncident(LinkedIncident):
    """An incident of the week; `postmortem_missing` flags a severe one filed without one."""

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
    near_misses: list[NearMissGroup]


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


class DigestItem(Item):
    """An anonymised postmortem summary; `this_week` is false for one from the 90 days before
    that fills the digest up, `link` the postmortem's page."""

    id: str
    title: str
    date: str
    severity: str | None
    summary: str
    root_cause: str
    what_changed: list[str]
    link: str
    this_week: bool


class Digest(Item):
    week: str
    since: str
    until: str
    items: list[DigestItem]
    markdown: str
    html: str


class NearMissEntry(Item):
    id: int
    date: str
    service: str
    what_failed: str
    caught_by: str
    corrective_action: str | None
    source: str


class NearMissGroup(Item):
    """Repeats of one near-miss (same service and what failed), newest entry first."""

    key: str
    service: str
    what_failed: str
    count: int
    first_date: str
    last_date: str
    postmortem_recommended: bool
    entries: list[NearMissEntry]


class NearMissLog(Item):
    as_of: str
    since: str | None
    recommended: int
    groups: list[NearMissGroup]


class AuditEntry(Item):
    """A write, or a read of a restricted postmortem: when, who, what, on what, from where."""

    at: str
    actor: str
    action: str
    target: str
    address: str | None


class AuditLog(BaseModel):
    items: list[AuditEntry]


class PackCandidate(PostmortemRef):
    """A postmortem the presenter may add to the pack."""


class Precedent(Item):
    """A postmortem of a pack with why it is there, its impact, root cause (Markdown) and fixes.

    In an error class's pack each has `chosen: false` and no reasons.
    """

    id: str
    title: str
    date: str
    services: list[str]
    error_classes: list[str]
    reasons: list[Reason]
    severity: str | None
    summary: str | None
    root_cause: str
    fixes: list[PostmortemActionItem]
    chosen: bool | None = None


class PackPrecedent(Precedent):
    """A precedent of the presenter pack: a related postmortem (with `score`, `strength`,
    `when`), or one the presenter added (`chosen: true`, without those three)."""

    score: Number | None = None
    strength: Literal["strong", "partial", "weak"] | None = None
    when: Literal["earlier", "later"] | None = None


class Recurrence(Item):
    """One line of a pack's comparison: when, how bad, how fast seen, what was fixed, and the
    later postmortems of a shared error class (`came_back`, at most five)."""

    id: str
    title: str
    date: str
    severity: str | None
    impact: str | None
    error_budget_minutes: Number | None
    detection_gap_seconds: int | None
    time_to_resolve_seconds: int | None
    fixes_done: int
    fixes_total: int
    fixes: list[str]
    came_back: list[str]


class PresenterPack(Item):
    postmortem: PostmortemDetail
    related: list[PackPrecedent]
    comparison: list[Recurrence]
    candidates: list[PackCandidate]
    added: list[str]
    removed: list[str]


class ClassPack(Item):
    error_class: str
    postmortems: list[Precedent]
    comparison: list[Recurrence]


class SemanticStatus(Item):
    """The semantic index's state (`disabled`, `loading`, `embedding`, `ready`, `error`) and
    model; PML_ADMIN_GROUP also gets its counts (`postmortems`, `passages`) and server paths."""

    model_config = _sometimes(
        postmortems={"type": "integer", "title": "Postmortems"},
        passages={"type": "integer", "title": "Passages"},
    )

    state: str
    model: str | None
    error: str | None


class SyncStatus(Item):
    """The followed git repository's sync (`state`: `ok`, `failing`, `not synced yet`); under
    `pml serve` also whether one is `running` and how many ran since the start."""

    model_config = _sometimes(
        running={"type": "boolean", "title": "Running"},
        syncs_since_start={"type": "integer", "title": "Syncs Since Start"},
    )

    state: str
    branch: str
    commit: str | None
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None


class Readiness(Item):
    status: Literal["ready", "not ready"]
    database: bool
    fulltext: bool
    semantic: bool
    semantic_status: SemanticStatus
    postmortems: int | None = None
    indexed_at: str | None = None
    sync: SyncStatus | None = None


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


class NearMissRecorded(NearMissEntry):
    """The entry as stored, with how often its group has been seen."""

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


Cell = str | int | float | None


class Table(BaseModel):
    """A chart's numbers: a header row, rows of plain values (null: an empty cell), and for
    each row the incident list it counts."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    links: list[str | None]


class Verdict(BaseModel):
    """Whether a duration gets better (`improving`, `regressing`, `flat`), by how much, and
    the mean of the last three periods' medians in minutes."""

    trend: str | None
    trend_change: Number | None
    recent_median_minutes: Number | None


class OverviewTrends(BaseModel):
    """The trends of a service or error class as tables, with the trends page (`url`)."""

    failure_modes: Table
    services: Table
    mttr: Table
    mttr_verdict: Verdict
    url: str


class Overview(Item):
    """One service or error class (`kind`) with its postmortems, incidents, trends, actions."""

    kind: Literal["service", "error_class"]
    name: str
    description: str
    as_of: str
    postmortems: PostmortemsListed
    incidents: IncidentsListed
    trends: OverviewTrends
    action_items: ActionItemsListed


class ServiceOverview(Overview):
    """One service, with its team and its near-misses (grouped as in /api/near-misses)."""

    team: str | None
    near_misses: list[NearMissGroup]


class ErrorClassOverview(Overview):
    """One error class, with its title, aliases and presenter pack (`pack_url`)."""

    title: str
    aliases: list[str]
    pack_url: str


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


class SlackText(Item):
    type: str
    text: str


class SlackBlock(Item):
    """A Block Kit block; the slash command answers `section` blocks of `mrkdwn` text."""

    type: str
    text: SlackText


class SlackAnswer(Item):
    """A slash command's answer as Slack Block Kit, seen only by whoever asked."""

    response_type: str
    text: str
    blocks: list[SlackBlock]


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
