#!/bin/sh
# System packages the test suite needs on Debian/Ubuntu: the CJK and Latin fonts the synthetic
# data engines render with, and poppler-utils (pdftotext checks the searchable PDF).
# Uses sudo only when not root; skips apt entirely when everything is already installed.
#   sh scripts/install_system_deps.sh            # fonts + poppler-utils (+ python3-venv if needed)
#   sh scripts/install_system_deps.sh --python   # only what `python3 -m venv` needs
set -eu

# fonts-arphic-gbsn00lp and fonts-arphic-gkai00mp are the held-out (evaluation-only) faces.
# chromium runs the browser build's end-to-end test (tests/test_web_e2e.py).
PACKAGES="fonts-noto-cjk fonts-noto-cjk-extra fonts-droid-fallback fonts-arphic-uming fonts-arphic-ukai fonts-arphic-gbsn00lp fonts-arphic-gkai00mp \
fonts-wqy-zenhei fonts-wqy-microhei fonts-lxgw-wenkai fonts-seto fonts-dejavu fonts-liberation2 \
fonts-urw-base35 fonts-freefont-ttf poppler-utils chromium"

if [ "${1:-}" = "--python" ]; then
    PACKAGES=""
fi

# The browser build needs Node.js and npm; machines that have their own (nvm, images) keep it.
if [ -n "$PACKAGES" ] && ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi

# `python3 -m venv` needs Debian's python3-venv unless python3 comes from elsewhere (pyenv, conda).
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    PACKAGES="$PACKAGES python3-venv"
fi

missing=""
for pkg in $PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    echo "system packages: all present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "system packages: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
