#!/usr/bin/env bash
# The Node.js versions LMGW is tested with, in one place, and a way to get one without root or a
# download site: the official binaries and headers are on the npm registry as node-<os>-<arch>
# (bin/node, include/node). The first call packs and unpacks one into .cache/node/<version>/ of
# this checkout (gitignored); later calls reuse it. Prints that directory.
#
# Usage: scripts/node-dist.sh 24|22|<x.y.z>
#
# Run the tests with it (native addons must be built for that Node, from its own headers):
#   dir=$(scripts/node-dist.sh 24)
#   export PATH="$dir/bin:$PATH" npm_config_nodedir="$dir"
#   npm ci && npm test
# Switching an installed tree to another Node: `npm rebuild better-sqlite3` with the other one on
# PATH and in npm_config_nodedir (.ci/run does this for Node 22).
set -euo pipefail

# The tested versions: the latest 24.x (active LTS; .ci/run runs everything on it) and the latest
# 22.x (maintenance LTS; the vitest suites). package.json's engines names the oldest Node allowed.
NODE_24=24.22.3
NODE_22=22.23.5

usage() { echo "usage: scripts/node-dist.sh 24|22|<x.y.z>" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  24) version=$NODE_24 ;;
  22) version=$NODE_22 ;;
  [0-9]*.[0-9]*.[0-9]*) version=$1 ;;
  *) echo "node-dist: '$1' is not 24, 22 or a version x.y.z" >&2; usage ;;
esac

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "node-dist: no Node package on npm for $(uname -s); install Node $version another way" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "node-dist: no Node package on npm for $(uname -m); install Node $version another way" >&2; exit 1 ;;
esac
pkg="node-$os-$arch"

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.cache/node/$version"
if [ ! -x "$dir/bin/node" ] || [ ! -f "$dir/include/node/node.h" ]; then
  mkdir -p "$root/.cache/node"
  tmp=$(mktemp -d "$root/.cache/node/.download.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # npm pack writes the tarball's name on stdout, its notices on stderr.
  if ! tgz=$(cd "$tmp" && npm pack --silent "$pkg@$version" 2>"$tmp/npm.log"); then
    echo "node-dist: npm pack $pkg@$version failed:" >&2
    cat "$tmp/npm.log" >&2
    exit 1
  fi
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp/$tgz" -C "$tmp/unpacked" --strip-components=1
  got=$("$tmp/unpacked/bin/node" --version)
  [ "$got" = "v$version" ] || { echo "node-dist: $pkg@$version holds Node $got" >&2; exit 1; }
  rm -rf "$dir"
  mv "$tmp/unpacked" "$dir"
fi
echo "$dir"
