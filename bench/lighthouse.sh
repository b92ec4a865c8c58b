#!/bin/bash
# Lighthouse (its default mobile preset) over the shop's pages, /checkout with one item in the cart, and a paid
# order's page (bench/_lighthouse_order.py buys one as another shopper).
#   make run                     # in another terminal: the shop on http://127.0.0.1:5000
#   bench/lighthouse.sh [BASE]   # installs Lighthouse under .lighthouse/ the first time (npm)
# Chromium: Playwright's, or CHROME_PATH (Debian's is /usr/bin/chromium). Prints each page's four scores.
set -euo pipefail
BASE=${1:-http://127.0.0.1:5000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LH="$ROOT/.lighthouse/node_modules/.bin/lighthouse"
[ -x "$LH" ] || npm install --no-audit --no-fund --prefix "$ROOT/.lighthouse" lighthouse >/dev/null
export CHROME_PATH=${CHROME_PATH:-$(command -v chromium || command -v chromium-browser || true)}
jar=$(mktemp); out=$(mktemp -d); trap 'rm -rf "$jar" "$out"' EXIT
home=$(curl -sf -c "$jar" -b "$jar" "$BASE/")
csrf=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$home" | head -1 | sed 's/.*value="//;s/"$//')
product=$(grep -o 'href="/products/[^"]*"' <<<"$home" | head -1 | sed 's/href="//;s/"$//')
curl -sf -o /dev/null -c "$jar" -b "$jar" -X POST "$BASE/cart/add" \
  -d "csrf_token=$csrf&product_id=${product#/products/}&quantity=1"
cookie=$(sed 's/^#HttpOnly_//' "$jar" | awk '!/^#/ && NF >= 7 {printf "%s=%s; ", $6, $7}')
measure() {  # PATH COOKIE
  report="$out/page.json"
  "$LH" "$BASE$1" --quiet --output=json --output-path="$report" \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu" --extra-headers="{\"Cookie\": \"$2\"}"
  python3 - "$report" "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
scores = {name: round(c["score"] * 100) for name, c in report["categories"].items()}
audits = report["audits"]
print(f'{sys.argv[2]:<28} {scores}  TBT {audits["total-blocking-time"]["displayValue"]}'
      f'  LCP {audits["largest-contentful-paint"]["displayValue"]}'.replace("\xa0", " "))
PY
}
for path in / "$product" /cart /checkout /terms /privacy /shipping-returns /contact; do
  measure "$path" "$cookie"
done
IFS=$'\t' read -r buyer order < <(cd "$ROOT" && .venv/bin/python -m bench._lighthouse_order "$BASE")
measure "$order" "$buyer"
