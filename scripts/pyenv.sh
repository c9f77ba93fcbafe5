#!/usr/bin/env bash
# Shared Python environment for tests and benchmarks: creates ./.venv (git-ignored) once and
# installs the requested pip requirements into it. Safe to call concurrently (flock).
# Usage: source <(scripts/pyenv.sh onnx==1.23.2 onnxruntime==1.31.1)   -> exports PATH/VIRTUAL_ENV
#    or: scripts/pyenv.sh pkg...   (then use .venv/bin/python)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SPIKETRAIN_VENV:-$root/.venv}"
exec 9>"$root/.venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
fi
if [ "$#" -gt 0 ]; then
  missing=()
  for req in "$@"; do
    name="${req%%[=<>!\[]*}"
    want="${req#*==}"
    have="$("$venv/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)"
    if [ -z "$have" ] || { [ "$want" != "$req" ] && [ "$have" != "$want" ]; }; then missing+=("$req"); fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "pyenv: installing ${missing[*]}" >&2
    "$venv/bin/python" -m pip install -q "${missing[@]}" >&2
  fi
fi
echo "export VIRTUAL_ENV='$venv' PATH='$venv/bin':\"\$PATH\""
