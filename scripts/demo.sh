#!/usr/bin/env bash
# The main job on embedded defaults: sign and publish the bundled example plugins into a local
# registry, then preflight the good and the broken examples against this host.
set -uo pipefail
home=${PLUGINOPS_HOME:-.pluginops}
export PLUGINOPS_HOME=$home

step() { printf '\n== %s\n' "$*"; }

step "This host"
pluginops host

if [ ! -f "$home/keys/signing.key" ]; then
  step "Creating a signing key"
  pluginops keygen || exit 1
fi

step "Publishing the example plugins (preflight first, dependencies first)"
pluginops publish examples/plugins/* || exit 1

step "Preflight of the example plugins, strict"
pluginops preflight examples/plugins/* --strict || exit 1

step "Preflight of the deliberately broken manifests (every finding code)"
pluginops preflight examples/broken/* > "$home/broken-preflight.txt"
rc=$?
grep -E '^\s+(error|warning|info) ' "$home/broken-preflight.txt" \
  | awk '{print $2}' | sort | uniq -c | sort -rn
tail -1 "$home/broken-preflight.txt"
[ "$rc" -eq 1 ] || { echo "expected the broken manifests to fail (exit 1), got $rc"; exit 1; }

step "Where to look"
echo "registry:        $home/registry/index.json"
echo "broken report:   $home/broken-preflight.txt"
echo "as JSON:         pluginops preflight examples/broken/* --format json"
echo "a prerelease host: pluginops preflight examples/broken/host-prerelease --host examples/hosts/prerelease-2.9.json"
