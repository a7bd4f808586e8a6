"""Client configuration from the environment (`LRHUB_URL`, `LRHUB_JOB_ID`, `LRHUB_TOKEN`, ...)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    """Where the service is and how to talk to it; every field reads `LRHUB_<FIELD>`.

    These variable names are a contract with the deployment (Kubernetes manifests, Slurm scripts).
    """

    model_config = SettingsConfigDict(env_prefix="LRHUB_", extra="ignore")

    url: str = Field(default="http://127.0.0.1:8000", description="Base URL of the lrhub service.")
    job_id: str | None = Field(default=None, description="This training job's id.")
    token: SecretStr | None = Field(default=None, description="Bearer token (admin or job token).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per HTTP attempt.")
    max_retries: int = Field(
        default=3, ge=0, description="Retries after the first attempt on retryable failures."
    )
