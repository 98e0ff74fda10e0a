#!/usr/bin/env bash
# Vendor htmx from its npm package into static/vendor (the site works offline).
# Usage: scripts/vendor-htmx.sh [VERSION]   (pinned: 2.0.11)
set -euo pipefail
version="${1:-2.0.11}"
dest="$(cd "$(dirname "$0")/.." && pwd)/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "htmx.org@${version}" >/dev/null && tar xzf "htmx.org-${version}.tgz")
cp "$tmp/package/dist/htmx.min.js" "$dest/htmx-${version}.min.js"
cp "$tmp/package/LICENSE" "$dest/htmx-LICENSE"
echo "vendored htmx ${version} into ${dest}"
