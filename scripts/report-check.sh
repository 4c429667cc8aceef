#!/usr/bin/env bash
# The browser check of the HTML report (`make report-check`, outside `make test`): runs import,
# export with a diff, a sync plan and a migration plan against the built-in sandbox with
# --html-report, renders each page with headless Chromium in light and dark mode, and fails on
# an empty or broken page: a screenshot missing or nearly uniform, a background that does not
# follow the colour scheme, or a DOM without the page's headings.
#   ROSTER_BIN   the binary (default target/release/roster)
#   CHECK_DIR    where pages and screenshots go (default target/report-check)
#   CHROMIUM     the browser (default chromium; Debian: apt-get install chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ROSTER_BIN:-target/release/roster}
out=${CHECK_DIR:-target/report-check}
browser=${CHROMIUM:-chromium}
command -v "$browser" >/dev/null || { echo "report-check needs $browser (apt-get install chromium)" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"

# A sandbox that throttles and fails now and then, so the pages have something to show.
profile=$(mktemp -d)
on_exit='rm -rf "$profile"'
source scripts/sandbox.sh
start_sandbox "$out" --seed-telecmi 20 --seed-smartflo 40 \
  --throttle-rate 0.05 --error-rate 0.03 --jitter-ms 30
export TELECMI_APP_ID=1111112 TELECMI_SECRET=sandbox-secret SMARTFLO_TOKEN=sandbox-token

# Exit 1 (rows to fix) is what the sample earns; anything above is a failure.
at_most_1() { "$@" || [ $? -le 1 ]; }

echo "== pages"
at_most_1 "$bin" -q import samples/users.csv --mode upsert --rate 20 --report "$out/results.csv" \
  --failed "$out/failed.csv" --summary "$out/import.json" --html-report "$out/import.html"
"$bin" -q export --provider telecmi --output "$out/yesterday.csv"
# Yesterday's roster: one user not there yet, one with another name, one who left since.
awk -F, -v OFS=, 'NR == 3 { next } NR == 4 { $3 = "Renamed <b>Person</b>" } { print }
  END { print "999_1111112,999,Gone Away,Gone,Away,919200000999,,,,false" }' \
  "$out/yesterday.csv" >"$out/yesterday.tmp" && mv "$out/yesterday.tmp" "$out/yesterday.csv"
"$bin" -q export --provider telecmi --output "$out/today.csv" --diff-against "$out/yesterday.csv" \
  --diff-output "$out/changes.csv" --summary "$out/export.json" --html-report "$out/export.html"
"$bin" -q sync samples/users.csv --plan-out "$out/sync-plan.json" --html-report "$out/sync.html"
"$bin" -q migrate --from smartflo --to telecmi --extension-range 300-999 \
  --credentials-out "$out/credentials.csv" --plan-out "$out/migrate-plan.json" --html-report "$out/migrate.html"
"$bin" -q report "$out/import.json" --html "$out/import-later.html"
cmp -s "$out/import.html" "$out/import-later.html" || { echo "roster report made another page" >&2; exit 1; }

render() { # PAGE MODE(light|dark) -> PAGE.MODE.png and PAGE.dom.html
  local page=$1 mode=$2 flags=()
  [ "$mode" = dark ] && flags+=(--force-dark-mode)
  local common=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --user-data-dir="$profile" --window-size=1200,1600 "${flags[@]}")
  timeout 120 "$browser" "${common[@]}" --screenshot="$out/$page.$mode.png" \
    "file://$PWD/$out/$page.html" >/dev/null 2>&1 || true
  [ "$mode" = light ] && timeout 120 "$browser" "${common[@]}" --dump-dom \
    "file://$PWD/$out/$page.html" >"$out/$page.dom.html" 2>/dev/null || true
}

echo "== rendering with $browser"
for page in import export sync migrate; do
  render "$page" light
  render "$page" dark
done

python3 - "$out" <<'PY'
import re, struct, sys, zlib

out = sys.argv[1]
expected = {
    "import": ["Rows", "Requests", "Latency", "Why rows failed", "Rows to fix", "Settings"],
    "export": ["Roster", "Joined", "Left", "Changed", "Latency"],
    "sync": ["Plan", "To create", "To update", "Invalid rows"],
    "migrate": ["Plan", "To create", "Unmappable users"],
}

def png(path):
    """Width, height, the first pixel and how many distinct scanlines the image has."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}[colour]
    stride = 1 + width * bpp
    rows = {raw[i:i + stride] for i in range(0, len(raw), stride)}
    # Row 0 has no row above: whatever its filter, its first pixel is stored as it is.
    return width, height, raw[1:4], len(rows)

failures = []
for page, headings in expected.items():
    for mode in ("light", "dark"):
        path = f"{out}/{page}.{mode}.png"
        try:
            width, height, pixel, distinct = png(path)
        except (OSError, ValueError, zlib.error) as e:
            failures.append(f"{path}: no screenshot ({e})")
            continue
        light = sum(pixel) / 3 > 200
        if distinct < 50:
            failures.append(f"{path}: nearly uniform ({distinct} distinct rows)")
        if light != (mode == "light"):
            failures.append(f"{path}: background {pixel.hex()} is not {mode}")
        print(f"  {path}: {width}x{height}, {distinct} distinct rows, background #{pixel.hex()}")
    dom = open(f"{out}/{page}.dom.html", encoding="utf-8", errors="replace").read()
    found = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2>(.*?)</h2>", dom)]
    missing = [h for h in headings if not any(f.startswith(h) for f in found)]
    if "<h1>" not in dom or missing:
        failures.append(f"{page}: the DOM lacks {missing or 'its title'} (found {found})")
    if re.search(r"<script|https?://|src=", dom):
        failures.append(f"{page}: the DOM refers to something outside the page")
if failures:
    print("report-check FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"== report-check passed: 4 pages, light and dark, in {out}/")
PY
