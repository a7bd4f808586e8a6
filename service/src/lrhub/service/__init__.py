"""The lrhub FastAPI service: schedules and jobs over HTTP, durable per-job state.

One folder per domain, each with the same layers, each calling only the one below:

- `routes.py`: endpoints. Parse the request, call one service function, turn the records it
  returns into the response schemas of `schemas.py`;
- `service.py`: use cases, one transaction each (`storage.database.write_transaction` /
  `read_transaction`); they return stored records or small result types and raise the domain
  errors of `errors.py`;
- `store.py`: SQLAlchemy Core statements and the typed records they read and write.

Domains: `catalog` (named schedules and versions), `jobs` (jobs and their audit log),
`decisions` (the decision and the history), `previews`, `auth` (tokens, the caller),
`operations` (health, readiness, metrics). Shared: `http` (problem+json answers in one place,
strict JSON, body limit, paging, ETags, OpenAPI), `storage` (engines, tables, migrations, stored
specs). `app.create_app` wires them; `cli` serves. The math is `lrhub.schedules`.
"""
