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

# The workspace's distributions, each installed editable from its folder (see pyproject.toml).
WORKSPACE_MEMBERS=(schedules client service)

# Create .venv with python3 if missing and install the workspace into it:
#   ensure_venv server   the three distributions (what `scripts/serve` needs)
#   ensure_venv dev      the same with the client's framework extras (keras, torch, lightning,
#                        transformers), plus the `dev` dependency group (which pins torch)
# Reinstalls only when a pyproject.toml changed since the last install. Explicit `|| return`:
# callers run this under `phase ... ||`, where `set -e` does not apply.
ensure_venv() {
    local mode=$1 stamp fingerprint member
    local -a requirements=()
    stamp="${VENV}/.installed-${mode}"
    fingerprint=$(cat pyproject.toml */pyproject.toml | sha256sum | cut -d' ' -f1) || return
    if [ ! -x "${VENV}/bin/python" ]; then
        python3 -m venv "${VENV}" || return
    fi
    if [ "$(cat "${stamp}" 2>/dev/null)" = "${fingerprint}" ]; then
        return 0
    fi
    # Dependency groups (pyproject.toml) need pip 25.1 or newer.
    "${VENV}/bin/python" -m pip install --quiet --upgrade "pip>=25.1" || return
    for member in "${WORKSPACE_MEMBERS[@]}"; do
        if [ "${mode}" = dev ] && [ "${member}" = client ]; then
            requirements+=(-e "./${member}[keras,torch,lightning,transformers]")
        else
            requirements+=(-e "./${member}")
        fi
    done
    if [ "${mode}" = dev ]; then
        requirements+=(--group dev)
    fi
    "${VENV}/bin/pip" install --quiet "${requirements[@]}" || return
    echo "${fingerprint}" > "${stamp}"
}
