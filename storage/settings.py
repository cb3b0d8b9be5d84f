"""One typed settings object, read from the environment (prefix ``WORKBENCH_``) or ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.secret_key import SECRET_FILE, resolve_secret


class SettingsError(ValueError):
    """The settings are unusable."""


class Settings(BaseSettings):
    """Workbench settings.

    ``WORKBENCH_DATA_DIR``        folder for the SQLite file, model files and exports.
    ``WORKBENCH_DATABASE_URL``    SQLAlchemy URL; default ``sqlite:///<data dir>/workbench.db``.
    ``WORKBENCH_DEMO``            demo mode: the sign-in page lists the demo accounts.
    ``WORKBENCH_SECRET_KEY``      keys the end-user pseudonyms; when unset, the key in
                                  ``<data dir>/secret.key`` (written by ``workbench init``).
    ``WORKBENCH_ENCODER``         ``minilm`` (all-MiniLM-L6-v2 through PyTorch, offline),
                                  ``minilm-onnx-int8`` (the same model quantised to int8 and run
                                  by onnxruntime: about 7x faster for one prompt, built from the
                                  packaged model on first use into ``<data dir>/encoders``) or
                                  ``hashing`` (tests).
    ``WORKBENCH_EXPLORATION``     temperature of the preview's ranking exploration (0 = off;
                                  default 0.05), so the impression log has propensities.
    ``WORKBENCH_SESSION_IDLE_MINUTES``  a signed-in browser session ends after this long
                                  without a request (default 60).
    ``WORKBENCH_LOCKOUT_FAILURES``  wrong passwords in a row that lock an account (default 5).
    ``WORKBENCH_LOCKOUT_MINUTES``   how long such a lockout lasts (default 15).
    """

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("workbench_data"))
    database_url: str | None = None
    demo: bool = False
    secret_key: str | None = None
    encoder: str = "minilm"
    max_text_chars: int = 10_000
    exploration: float = Field(default=0.05, ge=0.0, le=10.0)
    session_idle_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    lockout_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)

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
    def secret_key_file(self) -> Path:
        """Where ``workbench init`` keeps the installation's secret key (mode 0600)."""
        return self.data_dir / SECRET_FILE

    def require_secret_key(self) -> str:
        """``WORKBENCH_SECRET_KEY``, else the key in ``secret_key_file``; never a default
        (``SecretKeyError`` says to run ``workbench init`` or set the variable)."""
        return resolve_secret(self.secret_key, self.secret_key_file)

    @property
    def encoders_dir(self) -> Path:
        """Where encoders keep the model files they build (``minilm-onnx-int8``)."""
        return self.data_dir / "encoders"
