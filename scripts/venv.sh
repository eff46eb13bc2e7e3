# Sourced by the other scripts: ensure_venv [EXTRAS] makes sure .venv exists and holds the
# project as installed from pyproject.toml, re-installing whenever pyproject.toml changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ensure_venv() {
    local extras="${1:-}" python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    local stamp=".venv/.filmgraph-installed${extras:+-$extras}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}

# ensure_node_clients: the npm packages of tests/clients/package-lock.json (Apollo Client,
# GraphQL Code Generator), which tests/test_clients.py runs. `npm ci` again only when the lock
# changed; from npm's cache when it holds them, so a warm machine needs no network.
ensure_node_clients() {
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        echo "scripts: no node/npm (tests/test_clients.py runs Apollo Client and GraphQL" \
            "Code Generator): install Node 20 or newer with npm" >&2
        exit 1
    fi
    # Debian 12's nodejs is 18: GraphQL Code Generator 7 needs 20 (a regular expression flag
    # 18 lacks), so say so now rather than fail the client tests after minutes.
    local version
    version=$(node --version)
    if [ "$(echo "$version" | sed -E 's/^v?([0-9]+).*/\1/')" -lt 20 ] 2>/dev/null; then
        echo "scripts: Node $version is too old for tests/test_clients.py (Apollo Client 4," \
            "GraphQL Code Generator 7): install Node 20 or newer with npm" >&2
        exit 1
    fi
    local lock=tests/clients/package-lock.json stamp=tests/clients/node_modules/.filmgraph-lock
    if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
        npm ci --prefix tests/clients --prefer-offline --no-audit --no-fund --loglevel=error
        cp "$lock" "$stamp"
    fi
}
