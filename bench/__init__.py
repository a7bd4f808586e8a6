"""lrhub's benchmark suite: `python -m bench` (add `--quick` for a smoke run).

Not part of the package and not part of the pytest run: speed is measured here, never asserted.
Every figure that matters is a ratio against a baseline measured in the same run.
"""
