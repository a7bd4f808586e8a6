"""Training jobs: create, read, list and change them; their audit log."""
