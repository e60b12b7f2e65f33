#!/usr/bin/env bash
# Install the Debian packages sluice's tests and demo run for real
# (redis-server, the OCI registry, git, sshd) when they are missing.
set -euo pipefail
declare -A wanted=(
  [redis-server]=redis-server
  [docker-registry]=docker-registry
  [git]=git
  [sshd]=openssh-server
  [ssh-keygen]=openssh-client
)
missing=()
for cmd in "${!wanted[@]}"; do
  if ! command -v "$cmd" >/dev/null && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
    missing+=("${wanted[$cmd]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system packages missing: ${missing[*]}; install them with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start their own daemons; sluice runs private ones on free ports.
for svc in redis-server docker-registry ssh; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
done
