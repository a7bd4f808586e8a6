"""The variable naming prometheus-client's multi-process directory, on its own so that
`lrhub serve` (which makes the directory) can name it without importing the metrics stack."""

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
