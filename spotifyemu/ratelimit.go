package spotifyemu

import (
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Spotify's rate limit, modelled: an app (client id) may make Limit calls in any
// rolling window (30 s by default); the call past it is answered 429 with
// Retry-After (the seconds until the oldest call of the window leaves it), and the
// app stays blocked until then. With a penalty set, every call during the block
// lengthens it by the penalty, as calls during the wait are reported to do at
// Spotify. In the quota mode the 429s carry "reason":"QUOTA_EXCEEDED". Paths that
// Spotify limits separately (playlist image upload) get windows of their own with
// SetPathLimit. All of it is off by default and costs one atomic load then.
//
// SetAPIFault injects 5xx answers on a share of the calls of one method (the retry
// tests' flaky upstream).

// DefaultRateWindow is Spotify's rolling window.
const DefaultRateWindow = 30 * time.Second

// RateStats counts what the rate-limit model did; the JSON names are the control
// API's.
type RateStats struct {
	Limited     int64 `json:"limited"`      // 429 answers of the model
	DuringBlock int64 `json:"during_block"` // calls that arrived while the app was blocked
	Faults      int64 `json:"faults"`       // injected 5xx answers
	Served      int64 `json:"served"`       // calls the model let through

	BlockedSeconds float64 `json:"blocked_seconds"` // total time the app was blocked, penalties included
}

type rateModel struct {
	armed atomic.Bool // any limit, penalty or fault set

	mu         sync.Mutex
	limit      int
	window     time.Duration
	penalty    time.Duration
	quota      bool
	pathLimits map[string]int         // glob pattern → limit per window
	calls      map[string][]time.Time // key → call times within the window, oldest first
	blocked    map[string]time.Time   // key → blocked until
	faultCode  int
	faultRatio float64
	faultMeth  string

	limited, duringBlock, faults, served atomic.Int64
	blockedNanos                         atomic.Int64
}

func (m *rateModel) rearm() {
	m.armed.Store(m.limit > 0 || len(m.pathLimits) > 0 || m.faultRatio > 0)
}

// SetRateLimit limits every client id to limit calls in any window (<= 0: 30 s);
// limit <= 0 turns the app-wide limit off.
func (e *Emulator) SetRateLimit(limit int, window time.Duration) {
	m := &e.rate
	m.mu.Lock()
	defer m.mu.Unlock()
	if window <= 0 {
		window = DefaultRateWindow
	}
	m.limit, m.window = max(limit, 0), window
	m.rearm()
}

// SetRatePenalty makes every call during a block lengthen it by d (0: off).
func (e *Emulator) SetRatePenalty(d time.Duration) {
	e.rate.mu.Lock()
	e.rate.penalty = max(d, 0)
	e.rate.mu.Unlock()
}

// SetQuotaExceeded makes the model's 429s say "reason":"QUOTA_EXCEEDED".
func (e *Emulator) SetQuotaExceeded(on bool) {
	e.rate.mu.Lock()
	e.rate.quota = on
	e.rate.mu.Unlock()
}

// SetPathLimit gives the paths matching pattern (path.Match syntax, e.g.
// /v1/playlists/*/images) a window of their own with limit calls; limit <= 0
// removes it.
func (e *Emulator) SetPathLimit(pattern string, limit int) {
	m := &e.rate
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pathLimits == nil {
		m.pathLimits = map[string]int{}
	}
	if limit <= 0 {
		delete(m.pathLimits, pattern)
	} else {
		m.pathLimits[pattern] = limit
	}
	if m.window == 0 {
		m.window = DefaultRateWindow
	}
	m.rearm()
}

// SetAPIFault answers status to a share ratio (0..1) of the /v1/ calls with
// method ("" = any) after authentication; ratio 0 turns it off.
func (e *Emulator) SetAPIFault(status int, ratio float64, method string) {
	m := &e.rate
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faultCode, m.faultRatio, m.faultMeth = status, min(max(ratio, 0), 1), method
	m.rearm()
}

// RateStats returns the rate-limit model's counters.
func (e *Emulator) RateStats() RateStats {
	m := &e.rate
	return RateStats{Limited: m.limited.Load(), DuringBlock: m.duringBlock.Load(), Faults: m.faults.Load(), Served: m.served.Load(),
		BlockedSeconds: time.Duration(m.blockedNanos.Load()).Seconds()}
}

// rateLimited answers the call when the model refuses it and reports whether it did.
func (e *Emulator) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	m := &e.rate
	if !m.armed.Load() {
		return false
	}
	now := e.now()
	m.mu.Lock()
	if m.faultRatio > 0 && (m.faultMeth == "" || m.faultMeth == r.Method) && rand.Float64() < m.faultRatio {
		code := m.faultCode
		m.mu.Unlock()
		m.faults.Add(1)
		writeAPIError(w, code, http.StatusText(code))
		return true
	}
	keys := make([]string, 0, 2)
	limits := make([]int, 0, 2)
	if m.limit > 0 {
		keys, limits = append(keys, "app:"+e.clientID), append(limits, m.limit)
	}
	for pattern, limit := range m.pathLimits {
		if ok, _ := path.Match(pattern, trimSlash(r.URL.Path)); ok {
			keys, limits = append(keys, "path:"+e.clientID+":"+pattern), append(limits, limit)
		}
	}
	if m.calls == nil {
		m.calls, m.blocked = map[string][]time.Time{}, map[string]time.Time{}
	}
	for i, key := range keys {
		if until := m.blocked[key]; now.Before(until) {
			m.duringBlock.Add(1)
			until = until.Add(m.penalty)
			m.blocked[key] = until
			m.blockedNanos.Add(int64(m.penalty))
			return m.refuse(w, until.Sub(now))
		}
		calls := m.calls[key]
		cut := 0
		for cut < len(calls) && !calls[cut].After(now.Add(-m.window)) {
			cut++
		}
		calls = calls[cut:]
		m.calls[key] = calls
		if len(calls) >= limits[i] {
			wait := calls[len(calls)-limits[i]].Add(m.window).Sub(now)
			m.blocked[key] = now.Add(wait)
			m.blockedNanos.Add(int64(wait))
			return m.refuse(w, wait)
		}
	}
	for _, key := range keys {
		m.calls[key] = append(m.calls[key], now)
	}
	m.mu.Unlock()
	m.served.Add(1)
	return false
}

// refuse answers 429 with the wait rounded up to seconds (at least 1); m.mu is
// held and released.
func (m *rateModel) refuse(w http.ResponseWriter, wait time.Duration) bool {
	quota := m.quota
	m.mu.Unlock()
	m.limited.Add(1)
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	if quota {
		writeAPIJSON(w, http.StatusTooManyRequests, quotaError{Error: quotaErrorBody{
			Status: http.StatusTooManyRequests, Message: "Quota exceeded", Reason: "QUOTA_EXCEEDED"}})
		return true
	}
	writeAPIError(w, http.StatusTooManyRequests, "API rate limit exceeded")
	return true
}

type quotaError struct {
	Error quotaErrorBody `json:"error"`
}

type quotaErrorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// registerRateControl adds the rate-limit switches to the control API:
//
//	POST /_emulator/rate-limit-window?limit=150&window=30s   SetRateLimit (limit 0: off)
//	POST /_emulator/rate-penalty?d=1s                        SetRatePenalty
//	POST /_emulator/quota-exceeded?on=true                   SetQuotaExceeded
//	POST /_emulator/path-limit?pattern=/v1/playlists/*/images&limit=5   SetPathLimit
//	POST /_emulator/api-fault?status=503&ratio=0.2&method=GET           SetAPIFault
//	GET  /_emulator/rate-stats                               RateStats as JSON
func (e *Emulator) registerRateControl(mux *http.ServeMux) {
	ok := func(w http.ResponseWriter) { writeControlJSON(w, http.StatusOK, map[string]bool{"ok": true}) }
	mux.HandleFunc("POST /_emulator/rate-limit-window", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := strconv.Atoi(q.Get("limit"))
		if err != nil || limit < 0 {
			controlError(w, "limit must be a whole number >= 0")
			return
		}
		var window time.Duration
		if s := q.Get("window"); s != "" {
			if window, err = parseDuration(s); err != nil || window <= 0 {
				controlError(w, "window must be a positive duration")
				return
			}
		}
		e.SetRateLimit(limit, window)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/rate-penalty", func(w http.ResponseWriter, r *http.Request) {
		d, err := parseDuration(r.URL.Query().Get("d"))
		if err != nil {
			controlError(w, err.Error())
			return
		}
		e.SetRatePenalty(d)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/quota-exceeded", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			controlError(w, "on must be true or false")
			return
		}
		e.SetQuotaExceeded(on)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/path-limit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := strconv.Atoi(q.Get("limit"))
		if _, perr := path.Match(q.Get("pattern"), "/"); err != nil || perr != nil || q.Get("pattern") == "" {
			controlError(w, "pattern (a path.Match pattern) and limit (a whole number) are required")
			return
		}
		e.SetPathLimit(q.Get("pattern"), limit)
		ok(w)
	})
	mux.HandleFunc("POST /_emulator/api-fault", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		status, err := strconv.Atoi(q.Get("status"))
		if err != nil || status < 500 || status > 599 {
			controlError(w, "status must be a 5xx code")
			return
		}
		ratio, err := strconv.ParseFloat(q.Get("ratio"), 64)
		if err != nil || ratio < 0 || ratio > 1 {
			controlError(w, "ratio must be between 0 and 1")
			return
		}
		e.SetAPIFault(status, ratio, q.Get("method"))
		ok(w)
	})
	mux.HandleFunc("GET /_emulator/rate-stats", func(w http.ResponseWriter, r *http.Request) {
		writeControlJSON(w, http.StatusOK, e.RateStats())
	})
}
