#!/usr/bin/env bash
# Rebuilds static/nhsuk-frontend-<version>.css from the nhsuk-frontend
# package on the npm registry, without the @font-face rules that would load
# fonts from assets.nhs.uk: joinedup serves everything itself.
set -euo pipefail
version="${1:-10.6.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "sass@1" "nhsuk-frontend@$version"
cat > entry.scss <<SCSS
@use "node_modules/nhsuk-frontend/dist/nhsuk/core/settings" with (\$nhsuk-include-font-face: false, \$nhsuk-assets-path: "/assets/nhsuk/");
@forward "node_modules/nhsuk-frontend/dist/nhsuk";
SCSS
npx sass --no-source-map --style=compressed --load-path=. entry.scss "$root/static/nhsuk-frontend-$version.css"
echo "wrote static/nhsuk-frontend-$version.css"
