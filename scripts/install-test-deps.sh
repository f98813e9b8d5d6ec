#!/usr/bin/env bash
# Installs the Debian packages the test suite's real servers need (Postfix, Cyrus SASL,
# dante-server, tinyproxy, redis-server, opendkim as a verifying milter), and ccache, which
# spares CI's wheel step a second compile of the same C (scripts/ccache-env.sh). Idempotent:
# installs only what is missing. Needs root (or sudo).
set -euo pipefail
packages=(postfix sasl2-bin libsasl2-modules dante-server tinyproxy openssh-client openssh-server redis-server opendkim
  ccache)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # "No configuration": the package must not configure or start a system-wide Postfix;
  # the tests start their own from a private configuration directory.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
