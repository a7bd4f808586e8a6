"""The web dashboard at /ui and the offline interactive API docs at /docs."""
