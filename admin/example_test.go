package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotify-token-proxy/spotify-token-proxy/admin"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// refresher stands in for the Spotify accounts client.
type refresher struct{}

func (refresher) Refresh(context.Context, string) (tokenstore.Token, error) {
	return tokenstore.Token{AccessToken: "fresh-access-token", Expiry: time.Now().Add(time.Hour)}, nil
}

func (refresher) ClientCredentials(context.Context) (tokenstore.Token, error) {
	return tokenstore.Token{AccessToken: "app-access-token", Expiry: time.Now().Add(time.Hour)}, nil
}

func Example() {
	dir, _ := os.MkdirTemp("", "admin-example")
	defer os.RemoveAll(dir)
	store, err := tokenstore.OpenFileStore(filepath.Join(dir, "tokens.json"), nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	src := tokenstore.NewSource(tokenstore.Config{Store: store, Refresher: refresher{}, Metrics: m, ScanInterval: -1})
	src.Run()
	defer src.Close()

	srv := admin.New(admin.Config{Tokens: src, Gatherer: reg, AdminToken: "an-admin-token-of-16+-chars", Metrics: m})
	h := srv.Handler()
	call := func(method, path, body string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer an-admin-token-of-16+-chars")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(method, path, w.Code)
	}

	call(http.MethodGet, "/healthz", "")
	call(http.MethodPut, "/admin/v1/accounts/alice/token", `{"refresh_token":"a-refresh-token","scope":"user-read-private"}`)
	call(http.MethodGet, "/admin/v1/accounts/alice/token", "")
	srv.SetDraining()
	call(http.MethodGet, "/readyz", "")
	// Output:
	// GET /healthz 200
	// PUT /admin/v1/accounts/alice/token 204
	// GET /admin/v1/accounts/alice/token 200
	// GET /readyz 503
}
