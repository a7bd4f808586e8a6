"""API tokens with roles: create (the secret shown once), list, revoke."""
