#!/usr/bin/env bash
# Installs the system libraries spiketrain builds against (Debian/Ubuntu): libhdf5 for the hdf5
# crate, pkg-config to find it, and Python's venv module for the reference-tool checks.
# Skips apt when everything is already present, so it is cheap to call from every entry point.
set -euo pipefail
need=()
pkg-config --exists hdf5 2>/dev/null || dpkg -s libhdf5-dev >/dev/null 2>&1 || need+=(libhdf5-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v unzip >/dev/null || need+=(unzip)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup-system: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
command -v cargo >/dev/null || { echo "setup-system: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
