package spotifyemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ControlHandler returns the HTTP control API, for tests that run the
// emulator in another process. Mount it under /_emulator/ (its patterns
// carry that prefix):
//
//	GET  /_emulator/stats                          Stats as JSON (snake_case)
//	POST /_emulator/fail-token?status=503&count=5   FailTokenEndpoint (count default 1, -1 = until cleared)
//	POST /_emulator/clear-failures                  ClearFailures
//	POST /_emulator/token-latency?d=3s              SetTokenLatency
//	POST /_emulator/token-lifetime?d=10s            SetTokenLifetime
//	POST /_emulator/refresh-policy?p=rotate|never|omit
//	POST /_emulator/legacy-401?on=true              SetLegacy401
//	POST /_emulator/rate-limit?count=3&retry_after=2  RateLimit (no retry_after: no header)
//	POST /_emulator/revoke-access                   RevokeAccessTokens
//	POST /_emulator/revoke-refresh                  RevokeRefreshTokens
//	POST /_emulator/refresh-token?token=X&scope=S   AddRefreshToken
//	POST /_emulator/issue-refresh-token?scope=S     IssueRefreshToken: {"refresh_token":"…"}
//	GET  /_emulator/refresh-token-live?token=X      {"live":true|false}
//	GET  /_emulator/live-refresh-tokens             {"live_refresh_tokens":N}
//	…and the rate-limit switches (rolling window, penalty, QUOTA_EXCEEDED, per-path
//	limits, API faults, rate-stats): see registerRateControl in ratelimit.go.
//
// Durations are Go durations ("1.5s") or whole seconds ("3"). Bad parameters
// answer 400 {"error":"…"}; successful commands answer 200 {"ok":true}; a
// known path with the wrong method answers 405.
// The control API has no authentication: serve it on loopback only.
func (e *Emulator) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter) { writeControlJSON(w, http.StatusOK, map[string]bool{"ok": true}) }

	mux.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, e.Stats())
	})
	mux.HandleFunc("POST /_emulator/fail-token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		status, err := strconv.Atoi(q.Get("status"))
		if err != nil || status < 100 || status > 999 {
			controlError(w, "status must be an HTTP status code")
			return
		}
		count := 1
		if s := q.Get("count"); s != "" {
			if count, err = strconv.Atoi(s); err != nil {
				controlError(w, "count must be an integer")
				return
			}
		}
		e.FailTokenEndpoint(status, count)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/clear-failures", func(w http.ResponseWriter, r *http.Request) {
		e.ClearFailures()
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/token-latency", func(w http.ResponseWriter, r *http.Request) {
		d, err := parseDuration(r.URL.Query().Get("d"))
		if err != nil {
			controlError(w, err.Error())
			return
		}
		e.SetTokenLatency(d)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/token-lifetime", func(w http.ResponseWriter, r *http.Request) {
		d, err := parseDuration(r.URL.Query().Get("d"))
		if err != nil {
			controlError(w, err.Error())
			return
		}
		e.SetTokenLifetime(d)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/refresh-policy", func(w http.ResponseWriter, r *http.Request) {
		p, err := ParseRefreshPolicy(r.URL.Query().Get("p"))
		if err != nil {
			controlError(w, err.Error())
			return
		}
		e.SetRefreshPolicy(p)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/legacy-401", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			controlError(w, "on must be true or false")
			return
		}
		e.SetLegacy401(on)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/rate-limit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil {
			controlError(w, "count must be an integer")
			return
		}
		e.RateLimit(count, q.Get("retry_after"))
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/revoke-access", func(w http.ResponseWriter, r *http.Request) {
		e.RevokeAccessTokens()
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/revoke-refresh", func(w http.ResponseWriter, r *http.Request) {
		e.RevokeRefreshTokens()
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/refresh-token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("token") == "" {
			controlError(w, "token is required")
			return
		}
		e.AddRefreshToken(q.Get("token"), q.Get("scope"))
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/issue-refresh-token", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, map[string]string{"refresh_token": e.IssueRefreshToken(r.URL.Query().Get("scope"))})
	})
	mux.HandleFunc("GET /_emulator/refresh-token-live", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, map[string]bool{"live": e.RefreshTokenLive(r.URL.Query().Get("token"))})
	})
	mux.HandleFunc("GET /_emulator/live-refresh-tokens", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, map[string]int{"live_refresh_tokens": e.LiveRefreshTokens()})
	})
	e.registerRateControl(mux) // ratelimit.go
	return mux
}

// parseDuration accepts a Go duration or whole seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("d must be a duration or whole seconds: %w", err)
	}
	return d, nil
}

func controlError(w http.ResponseWriter, msg string) {
	writeControlJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}

func writeControlJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain values are marshalled here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
