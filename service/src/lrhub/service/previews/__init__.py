"""Previews: the rates a spec or stored schedule would give, storing nothing."""
