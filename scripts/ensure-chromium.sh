#!/bin/sh
# The HTML report's browser tests (test/html/) drive a headless Chromium through playwright-core,
# which downloads no browser. `npm test` must work on a fresh machine with nothing installed first,
# so this installs Debian's package when neither DMAPROP_CHROMIUM nor /usr/bin/chromium names one
# (as root, or through sudo when it asks no password). Where it cannot, it says why and exits 0:
# the browser test then fails with how to install the browser, rather than this step hiding it.
if [ -n "${DMAPROP_CHROMIUM:-}" ] || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  echo "ensure-chromium: /usr/bin/chromium is missing and installing it needs root; the browser tests will fail until it is installed (apt-get install -y chromium) or DMAPROP_CHROMIUM names a browser" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: /usr/bin/chromium is missing and this system has no apt-get; install Chromium or set DMAPROP_CHROMIUM" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium for the HTML report's browser tests" >&2
$as_root apt-get update -qq >/dev/null &&
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
  echo "ensure-chromium: apt-get could not install chromium; the browser tests will fail" >&2
exit 0
