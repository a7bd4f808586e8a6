"""Credentials: admin tokens from settings, job tokens stored hashed, the caller of a request."""
