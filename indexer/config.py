"""Settings, read from `PML_*` environment variables (and a `.env` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pml.sqlite3').resolve()}"
