#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the console's browser test (cli/tests/console.rs):
# Debian's `chromium` and `chromium-driver`, installed only when chromedriver is missing.
set -euo pipefail

if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || [ -n "${CHROME_BIN:-}" ]; }; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "the console test needs Chromium and chromedriver: install them (or set CHROME_BIN and CHROMEDRIVER)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing chromium needs root (or sudo)" >&2; exit 1; }
    sudo="sudo"
fi
echo "installing chromium and chromium-driver (apt)"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
