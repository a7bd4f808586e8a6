"""The lrhub FastAPI service: schedules and jobs over HTTP, durable per-job state.

Layers, each calling only the one below:

- endpoints (`routes_*.py`): parse the request, call one service function, shape the answer;
- service functions (`schedule_service`, `job_service`, `decision_service`, `preview_service`):
  one use case each, one transaction each (`database.write_transaction` / `read_transaction`);
- storage (`schedule_store`, `job_store`, `tables`, `migrations/`): SQLAlchemy Core statements.

Cross-cutting: `errors` (the exception hierarchy) and `problems` (its RFC 9457 answers), `auth`,
`body_limit`, `strict_json`, `metrics`, `settings`; `app.create_app` wires them, `cli` serves.
"""
