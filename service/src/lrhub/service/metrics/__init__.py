"""The service's own counters and the fleet gauges, in Prometheus form, shared by every domain
that counts (requests, decisions) and by `/metrics`."""
