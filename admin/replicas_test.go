package admin

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Two replicas share one store; a change made through replica A's admin API is seen
// by replica B at once, because the Notifier makes B's Source drop its cached token.
func TestTwoReplicas(t *testing.T) {
	n := newFanout()
	a := newEnv(t, envOption{notifier: n})
	b := newEnv(t, envOption{notifier: n, store: a.store, clock: a.clock})
	<-n.subscribed
	<-n.subscribed

	obtained := func(d time.Duration) string { return a.clock.Now().Add(d).Format(time.RFC3339) }
	deliver := func(e *env, at string, age time.Duration) {
		t.Helper()
		body := fmt.Sprintf(`{"refresh_token":"RT-%s","access_token":"%s","expires_in":3600,"obtained_at":%q}`, at, at, obtained(-age))
		wantStatus(t, e.do(t, put("shared", body)), http.StatusNoContent)
	}
	token := func(e *env) any { return decodeToken(t, e.do(t, get("shared")))["access_token"] }

	deliver(a, "AT-1", 2*time.Hour)
	if got := token(b); got != "AT-1" {
		t.Fatalf("B serves %v, want AT-1", got)
	}
	// B now caches AT-1 (valid for an hour); a newer delivery through A replaces it.
	deliver(a, "AT-2", time.Hour)
	if got := token(b); got != "AT-2" {
		t.Fatalf("B serves %v after A's delivery, want AT-2", got)
	}
	// A stale delivery through B is refused: A's record is the newer one.
	wantError(t, b.do(t, put("shared", `{"refresh_token":"RT-old","obtained_at":"`+obtained(-3*time.Hour)+`"}`)),
		http.StatusConflict, "ADMIN_STALE_DELIVERY")
	if got := token(a); got != "AT-2" {
		t.Fatalf("A serves %v", got)
	}
	// A deletion through A is seen by B.
	wantStatus(t, a.do(t, req{method: "DELETE", path: "/admin/v1/accounts/shared"}), http.StatusNoContent)
	wantError(t, b.do(t, get("shared")), http.StatusNotFound, "PROXY_NO_TOKEN")
	// And a new delivery through B is seen by A.
	deliver(b, "AT-3", 0)
	if got := token(a); got != "AT-3" {
		t.Fatalf("A serves %v after B's delivery, want AT-3", got)
	}
	for _, e := range []*env{a, b} {
		e.ref.set(func(f *fakeRefresher) {
			if f.calls != 0 {
				t.Errorf("%d refreshes; every token was delivered", f.calls)
			}
		})
	}
}
