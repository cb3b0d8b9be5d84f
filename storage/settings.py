"""One typed settings object, read from the environment (prefix ``WORKBENCH_``) or ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """The settings are unusable (for example a default secret outside demo mode)."""


DEFAULT_SECRET = "change-me"


class Settings(BaseSettings):
    """Workbench settings.

    ``WORKBENCH_DATA_DIR``        folder for the SQLite file, model files and exports.
    ``WORKBENCH_DATABASE_URL``    SQLAlchemy URL; default ``sqlite:///<data dir>/workbench.db``.
    ``WORKBENCH_DEMO``            demo mode: the sign-in page lists the demo accounts.
    ``WORKBENCH_SECRET_KEY``      secret for signed values; must be set outside demo mode.
    ``WORKBENCH_ENCODER``         ``minilm`` (all-MiniLM-L6-v2 through PyTorch, offline),
                                  ``minilm-onnx-int8`` (the same model quantised to int8 and run
                                  by onnxruntime: about 7x faster for one prompt, built from the
                                  packaged model on first use into ``<data dir>/encoders``) or
                                  ``hashing`` (tests).
    ``WORKBENCH_EXPLORATION``     temperature of the preview's ranking exploration (0 = off;
                                  default 0.05), so the impression log has propensities.
    """

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("workbench_data"))
    database_url: str | None = None
    demo: bool = False
    secret_key: str = DEFAULT_SECRET
    encoder: str = "minilm"
    max_text_chars: int = 10_000
    exploration: float = Field(default=0.05, ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if not self.demo and self.secret_key == DEFAULT_SECRET and self.database_url_is_remote:
            raise SettingsError(
                "WORKBENCH_SECRET_KEY must be set when the workbench runs on a shared database "
                "outside demo mode."
            )
        return self

    @property
    def database_url_is_remote(self) -> bool:
        return bool(self.database_url) and not str(self.database_url).startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'workbench.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def encoders_dir(self) -> Path:
        """Where encoders keep the model files they build (``minilm-onnx-int8``)."""
        return self.data_dir / "encoders"
