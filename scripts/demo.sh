#!/usr/bin/env bash
# make demo: the proxy in front of the bundled Spotify emulator, no account needed.
# Starts both, makes calls through the proxy, shows a token refresh, stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

EMU_ADDR=${EMU_ADDR:-127.0.0.1:18090}
PROXY_ADDR=${PROXY_ADDR:-127.0.0.1:18080}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:19090}
LIFETIME=${DEMO_TOKEN_LIFETIME:-20s}
AHEAD=${DEMO_REFRESH_AHEAD:-8s}
work=$(mktemp -d "${TMPDIR:-/tmp}/spotify-token-proxy-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_http() {
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: $1 did not come up; logs in $work" >&2; cat "$work"/*.log >&2; exit 1
}

say "Starting the Spotify emulator on $EMU_ADDR (access tokens live $LIFETIME)"
bin/spotify-emulator -addr "$EMU_ADDR" -token-lifetime "$LIFETIME" -refresh-policy rotate \
  -refresh-token demo-refresh-token -scope "user-read-private user-modify-playback-state" >"$work/emulator.log" 2>&1 &
pids+=($!)
wait_http "http://$EMU_ADDR/_emulator/stats"

say "Starting spotify-token-proxy on $PROXY_ADDR (admin $ADMIN_ADDR, embedded file store)"
SPOTIFY_CLIENT_ID=demo-client SPOTIFY_CLIENT_SECRET=demo-secret \
SPOTIFY_REFRESH_TOKEN=demo-refresh-token \
SPOTIFY_API_URL="http://$EMU_ADDR" SPOTIFY_ACCOUNTS_URL="http://$EMU_ADDR" \
LISTEN_ADDR="$PROXY_ADDR" ADMIN_ADDR="$ADMIN_ADDR" TOKEN_FILE="$work/tokens.json" \
REFRESH_AHEAD="$AHEAD" LOG_FORMAT=text \
  bin/spotify-token-proxy >"$work/proxy.log" 2>&1 &
pids+=($!)
wait_http "http://$ADMIN_ADDR/readyz"

token_calls() { curl -fsS "http://$EMU_ADDR/_emulator/stats" | sed -E 's/.*"refresh_calls":([0-9]+).*/\1/'; }

say "GET /v1/me through the proxy (no Authorization header from the caller)"
echo "$ curl http://$PROXY_ADDR/v1/me"
curl -fsS "http://$PROXY_ADDR/v1/me"; echo

say "PUT /v1/me/player/play with a JSON body"
echo "$ curl -X PUT -d '{\"uris\":[...]}' http://$PROXY_ADDR/v1/me/player/play"
curl -sS -o /dev/null -w 'HTTP %{http_code}\n' -X PUT -H 'Content-Type: application/json' \
  -d '{"uris":["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"]}' "http://$PROXY_ADDR/v1/me/player/play"

say "A caller with an unknown account gets a Spotify-shaped error"
curl -sS -H 'X-Spotify-Account: nobody' "http://$PROXY_ADDR/v1/me"; echo

echo
echo "token endpoint calls so far: $(token_calls)"
say "Calling once a second; the token is refreshed in the background ${AHEAD} before it expires"
first=$(token_calls)
for i in $(seq 1 14); do
  code=$(curl -sS -o /dev/null -w '%{http_code}' "http://$PROXY_ADDR/v1/me")
  printf 't+%2ds  GET /v1/me -> %s   token endpoint calls: %s\n' "$i" "$code" "$(token_calls)"
  sleep 1
done
[ "$(token_calls)" -gt "$first" ] || { echo "demo: no refresh happened" >&2; exit 1; }

say "What Prometheus sees on http://$ADMIN_ADDR/metrics"
curl -fsS "http://$ADMIN_ADDR/metrics" | grep -E '^spotify_proxy_(token_refreshes_total\{result="success",trigger="(ahead|expired)"\}|requests_total)' || true

say "The stored record (mode 0600; the refresh token was rotated and persisted)"
ls -l "$work/tokens.json" | awk '{print $1, $NF}'
sed -E 's/("(access_token|refresh_token)": ")[^"]{6}[^"]*"/\1…redacted…"/' "$work/tokens.json"

say "Done: stopping the proxy and the emulator"
