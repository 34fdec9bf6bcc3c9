"""The use cases every door shares: HTTP routes, pages, the CLI, feeds.

One function per thing a user can ask for (search with sort and paging, a
postmortem's record, its relatives and pack, reviews, the digest, the
skipped files with their access rule, the incident list, loading the incident
history). The doors only parse their input, call one of these and shape
the answer or the error; so "the same JSON as the API" holds by
construction. Each function opens its own database session from the
`Library` it is given. Errors: `NotFound` (with close names), and the
library's own (`SearchQueryError`, `SemanticUnavailable`, `FilterError`,
`periods.PeriodError`, `targets.TargetsError`, `nearmiss.NearMissError`).
"""

from indexer.usecases._browse import (
    action_item_overview,
    error_class_index,
    error_class_overview,
    service_overview,
)
from indexer.usecases._errors import NotFound
from indexer.usecases._feeds import (
    ENTRIES,
    OUTSIDER,
    digest_entries,
    newest_matches,
    postmortem_entries,
)
from indexer.usecases._incidents import (
    IncidentFacts,
    incident,
    incident_choices,
    incident_facts,
    incident_list,
    load_history,
    near_miss_group,
    near_miss_log,
    near_miss_postmortems,
    record_near_miss,
    unmapped_services,
)
from indexer.usecases._operations import (
    database_checks,
    incident_totals,
    migrate_database,
    problems,
    refresh,
    shared_secret,
)
from indexer.usecases._reading import (
    LIST_MAX_OFFSET,
    LIST_MAX_PAGE,
    SORTED_WINDOW,
    RelatedScope,
    Sort,
    class_pack,
    duplicate_pairs,
    list_postmortems,
    postmortem_record,
    presenter_pack,
    related_postmortems,
    search,
    search_answer,
    unfinished_count,
)
from indexer.usecases._reports import (
    DIGEST_WEEKS,
    EARLIEST,
    LATEST,
    Cadence,
    action_items,
    budget_report,
    duration_report,
    failure_modes,
    investment_ranking,
    recent_weeks,
    review,
    services,
    target_status,
    today,
    trend_reports,
    weekly_digest,
)

__all__ = [
    "DIGEST_WEEKS",
    "EARLIEST",
    "ENTRIES",
    "LATEST",
    "LIST_MAX_OFFSET",
    "LIST_MAX_PAGE",
    "OUTSIDER",
    "SORTED_WINDOW",
    "Cadence",
    "IncidentFacts",
    "NotFound",
    "RelatedScope",
    "Sort",
    "action_item_overview",
    "action_items",
    "budget_report",
    "class_pack",
    "database_checks",
    "digest_entries",
    "duplicate_pairs",
    "duration_report",
    "error_class_index",
    "error_class_overview",
    "failure_modes",
    "incident",
    "incident_choices",
    "incident_facts",
    "incident_list",
    "incident_totals",
    "investment_ranking",
    "list_postmortems",
    "load_history",
    "migrate_database",
    "near_miss_group",
    "near_miss_log",
    "near_miss_postmortems",
    "newest_matches",
    "postmortem_entries",
    "postmortem_record",
    "presenter_pack",
    "problems",
    "recent_weeks",
    "record_near_miss",
    "refresh",
    "related_postmortems",
    "review",
    "search",
    "search_answer",
    "service_overview",
    "services",
    "shared_secret",
    "target_status",
    "today",
    "trend_reports",
    "unfinished_count",
    "unmapped_services",
    "weekly_digest",
]
