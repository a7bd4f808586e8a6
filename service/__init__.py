"""The lrhub FastAPI service: schedules and jobs over HTTP, durable per-job state."""
