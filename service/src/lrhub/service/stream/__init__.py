"""`GET /v1/stream`: every decision, change and status transition, as Server-Sent Events."""
