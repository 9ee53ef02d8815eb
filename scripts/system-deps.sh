#!/usr/bin/env bash
# System packages the test suite uses when it can: Samba (a real Active Directory domain
# controller for the identity tests). Installed only as root with apt; otherwise those tests
# skip with a message saying what is missing.
set -euo pipefail
if command -v samba-tool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing samba (Active Directory DC for the identity tests)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba >/dev/null
else
  echo "note: samba-tool not found and cannot install it here; the Active Directory tests will skip"
fi
