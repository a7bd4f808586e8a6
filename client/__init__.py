"""The lrhub client: Python SDK, Keras callback and the `lrhub` command line."""
