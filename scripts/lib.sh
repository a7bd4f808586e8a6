# shellcheck shell=bash
# Shared by scripts/test, scripts/serve and .ci/run (sourced from the repository root): the
# project virtualenv and phase timings.

VENV=.venv

# Run a command as a named phase; print its wall time, and say so when it fails.
phase() {
    local name=$1 start status=0
    shift
    echo "==> ${name}"
    start=$(date +%s)
    "$@" || status=$?
    if [ "${status}" -eq 0 ]; then
        echo "<== ${name}: $(($(date +%s) - start))s"
    else
        echo "<== ${name}: $(($(date +%s) - start))s, FAILED (exit ${status})"
    fi
    return "${status}"
}

# Create .venv with python3 if missing and install the project editable with the given extra
# ("dev", "server"). Reinstalls only when pyproject.toml changed since the last install.
# Explicit `|| return`: callers run this under `phase ... ||`, where `set -e` does not apply.
ensure_venv() {
    local extra=$1 stamp fingerprint
    stamp="${VENV}/.installed-${extra}"
    fingerprint=$(sha256sum pyproject.toml | cut -d' ' -f1) || return
    if [ ! -x "${VENV}/bin/python" ]; then
        python3 -m venv "${VENV}" || return
    fi
    if [ "$(cat "${stamp}" 2>/dev/null)" != "${fingerprint}" ]; then
        "${VENV}/bin/pip" install --quiet -e ".[${extra}]" || return
        echo "${fingerprint}" > "${stamp}"
    fi
}
