#!/usr/bin/env bash
# make demo: the proxy in front of the bundled Spotify emulator, no Spotify account
# needed. Starts both on the README's ports, links the accounts default, alice and
# bob, runs a short tour, then stays up with a "try this" list until Ctrl-C, which
# stops everything and exits 0.
#
# Ports: LISTEN_ADDR (proxy, 127.0.0.1:8080), ADMIN_ADDR (admin, 127.0.0.1:9090),
# EMULATOR_ADDR (emulator, 127.0.0.1:8090), WEBHOOK_ADDR (the webhook receiver,
# `spotify-token-proxy events listen`, 127.0.0.1:8091). BIN (default bin) holds the
# binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:8080}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:9090}
EMULATOR_ADDR=${EMULATOR_ADDR:-127.0.0.1:8090}
WEBHOOK_ADDR=${WEBHOOK_ADDR:-127.0.0.1:8091}
LIFETIME=${DEMO_TOKEN_LIFETIME:-60s}
AHEAD=${DEMO_REFRESH_AHEAD:-15s}
ADMIN_TOKEN=${ADMIN_TOKEN:-demo-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
WEBHOOK_SECRET=whsec_$(head -c 32 /dev/urandom | base64)
PROXY="http://$LISTEN_ADDR"
ADMIN="http://$ADMIN_ADDR"
EMU="http://$EMULATOR_ADDR"

work=$(mktemp -d "${TMPDIR:-/tmp}/spotify-token-proxy-demo.XXXXXX")
pids=()
stopped=0
stop_all() {
  [ "$stopped" = 1 ] && return
  stopped=1
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
on_signal() {
  trap '' INT TERM
  printf '\ndemo: stopping the proxy, the emulator and the webhook receiver\n'
  stop_all
  echo "demo: stopped"
  exit 0
}
trap stop_all EXIT
trap on_signal INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# A port someone already listens on fails the demo with the setting to change.
check_port() { # VAR addr what
  local host=${2%:*} port=${2##*:}
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "demo: port $port ($1=$2, the $3) is already in use." >&2
    echo "      Stop what listens there, or pick another port, e.g.: $1=$host:$((port + 10000)) make demo" >&2
    exit 1
  fi
}
check_port LISTEN_ADDR "$LISTEN_ADDR" "proxy"
check_port ADMIN_ADDR "$ADMIN_ADDR" "admin listener"
check_port EMULATOR_ADDR "$EMULATOR_ADDR" "Spotify emulator"
check_port WEBHOOK_ADDR "$WEBHOOK_ADDR" "webhook receiver"
[ -x "$BIN/spotify-token-proxy" ] && [ -x "$BIN/spotify-emulator" ] || die "$BIN/spotify-token-proxy and $BIN/spotify-emulator are missing: run make build (make demo does)"

wait_http() { # url pid name
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "demo: the $3 exited during start-up:" >&2; cat "$work/$3.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "demo: $1 did not come up; the $3's log:" >&2; cat "$work/$3.log" >&2; exit 1
}

say "Starting the Spotify emulator on $EMU (access tokens live $LIFETIME)"
"$BIN/spotify-emulator" -addr "$EMULATOR_ADDR" -token-lifetime "$LIFETIME" -refresh-policy rotate \
  -refresh-token demo-refresh-token >"$work/emulator.log" 2>&1 &
pids+=($!)
emu_pid=$!
wait_http "$EMU/_emulator/stats" "$emu_pid" emulator

say "Starting a webhook receiver on http://$WEBHOOK_ADDR/ (spotify-token-proxy events listen): it verifies and prints account events"
WEBHOOK_SECRET="$WEBHOOK_SECRET" "$BIN/spotify-token-proxy" events listen --addr "$WEBHOOK_ADDR" >"$work/webhooks.log" 2>&1 &
pids+=($!)
hook_pid=$!
for _ in $(seq 1 150); do
  grep -q "listening for webhooks" "$work/webhooks.log" 2>/dev/null && break
  kill -0 "$hook_pid" 2>/dev/null || { echo "demo: the webhook receiver exited during start-up:" >&2; cat "$work/webhooks.log" >&2; exit 1; }
  sleep 0.1
done

say "Starting spotify-token-proxy: proxy $PROXY, admin $ADMIN (embedded file store)"
WEBHOOK_URL="http://$WEBHOOK_ADDR/" WEBHOOK_SECRET="$WEBHOOK_SECRET" \
SPOTIFY_CLIENT_ID=demo-client SPOTIFY_CLIENT_SECRET=demo-secret \
SPOTIFY_REFRESH_TOKEN=demo-refresh-token \
SPOTIFY_API_URL="$EMU" SPOTIFY_ACCOUNTS_URL="$EMU" \
LISTEN_ADDR="$LISTEN_ADDR" ADMIN_ADDR="$ADMIN_ADDR" TOKEN_FILE="$work/tokens.json" \
ADMIN_TOKEN="$ADMIN_TOKEN" AUTH_REDIRECT_URL="$ADMIN/auth/callback" \
REFRESH_AHEAD="$AHEAD" LOG_FORMAT=text \
  "$BIN/spotify-token-proxy" >"$work/proxy.log" 2>&1 &
pids+=($!)
proxy_pid=$!
wait_http "$ADMIN/readyz" "$proxy_pid" proxy
echo "Admin token (for the admin API, the CLI and the operator page): $ADMIN_TOKEN"

export ADMIN_URL="$ADMIN" ADMIN_TOKEN
cli() { "$BIN/spotify-token-proxy" "$@"; }
token_calls() { curl -fsS "$EMU/_emulator/stats" | sed -E 's/.*"refresh_calls":([0-9]+).*/\1/'; }

say "Linking alice and bob: the emulator issues refresh tokens, the CLI delivers them (default came from SPOTIFY_REFRESH_TOKEN)"
for who in alice bob; do
  curl -fsS -X POST "$EMU/_emulator/issue-refresh-token?scope=user-read-private%20user-modify-playback-state" |
    sed -E 's/.*"refresh_token":"([^"]+)".*/\1/' | cli token put "$who" --refresh-token-file -
done

say "The webhook receiver got the account events (account.linked for alice and bob)"
for _ in $(seq 1 50); do
  [ "$(grep -c 'account.linked' "$work/webhooks.log")" -ge 2 ] && break
  sleep 0.1
done
grep 'account\.' "$work/webhooks.log" || echo "(no events yet: tail $work/webhooks.log)"

say "GET /v1/me through the proxy, as the default account and as alice (no Authorization header from the caller)"
echo "\$ curl $PROXY/v1/me"
curl -fsS "$PROXY/v1/me"; echo
echo "\$ curl -H 'X-Spotify-Account: alice' $PROXY/v1/me"
curl -fsS -H 'X-Spotify-Account: alice' "$PROXY/v1/me"; echo

say "PUT /v1/me/player/play as bob, with a JSON body"
curl -sS -o /dev/null -w 'HTTP %{http_code}\n' -X PUT -H 'X-Spotify-Account: bob' -H 'Content-Type: application/json' \
  -d '{"uris":["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"]}' "$PROXY/v1/me/player/play"

say "An account the proxy does not know gets a Spotify-shaped error"
curl -sS -H 'X-Spotify-Account: nobody' "$PROXY/v1/me"; echo

say "The emulator revokes every access token; alice's next call is refreshed and retried by the proxy"
before=$(token_calls)
curl -fsS -o /dev/null -X POST "$EMU/_emulator/revoke-access"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'X-Spotify-Account: alice' "$PROXY/v1/me")
echo "GET /v1/me as alice -> $code; token endpoint calls: $before -> $(token_calls)"

say "The accounts as the admin API sees them, through the CLI"
echo "\$ bin/spotify-token-proxy accounts list"
cli accounts list

cat <<EOF

demo: ready — emulator pid $emu_pid, proxy pid $proxy_pid, webhook receiver pid $hook_pid. It stays up until Ctrl-C. Try this:

  # a call through the proxy as alice
  curl -H 'X-Spotify-Account: alice' $PROXY/v1/me

  # the operator page (sign in with the admin token above)
  open $ADMIN/

  # the CLI
  export ADMIN_URL=$ADMIN ADMIN_TOKEN=$ADMIN_TOKEN
  $BIN/spotify-token-proxy accounts list
  $BIN/spotify-token-proxy login carol        # prints a link; open it, approve, and carol is linked

  # revoke every access token in the emulator and watch the proxy refresh
  curl -X POST $EMU/_emulator/revoke-access
  curl -H 'X-Spotify-Account: alice' $PROXY/v1/me
  curl $EMU/_emulator/stats                   # refresh_calls went up
  grep refresh $work/proxy.log

  # account events, as the webhook receiver prints them (verified with WEBHOOK_SECRET)
  tail -f $work/webhooks.log
  # revoke every refresh token: alice's next refresh fails, account.reauth_required arrives
  curl -X POST $EMU/_emulator/revoke-refresh; curl -X POST $EMU/_emulator/revoke-access
  curl -H 'X-Spotify-Account: alice' $PROXY/v1/me
  $BIN/spotify-token-proxy events tail --once   # the same events, polled from the admin API

  # the logs
  tail -f $work/proxy.log $work/emulator.log
EOF

# Stay up. A signal interrupts the wait and runs on_signal; a process that ends on
# its own ends the demo with an error.
while :; do
  for p in "${pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "demo: process $p ended unexpectedly; its log:" >&2
      [ "$p" = "$proxy_pid" ] && cat "$work/proxy.log" >&2 || cat "$work/emulator.log" >&2
      exit 1
    fi
  done
  wait -n "${pids[@]}" 2>/dev/null || true
done
