package tokenstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// endpointError is a token endpoint's error answer, as spotifyauth reports it.
type endpointError struct {
	status int
	code   string
}

func (e endpointError) Error() string                 { return fmt.Sprintf("status %d: %s", e.status, e.code) }
func (e endpointError) EndpointAnswer() (int, string) { return e.status, e.code }
func (e endpointError) Unwrap() error {
	if e.code == "invalid_grant" {
		return tokenstore.ErrInvalidGrant
	}
	return nil
}

type failingRefresher struct{ err error }

func (f failingRefresher) Refresh(context.Context, string) (tokenstore.Token, error) {
	return tokenstore.Token{}, f.err
}

func (f failingRefresher) ClientCredentials(context.Context) (tokenstore.Token, error) {
	return tokenstore.Token{}, f.err
}

// A failed token call's span says what the endpoint answered (status, OAuth error
// code) and the refresh span how the flight ended.
func TestTraceTokenEndpointFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		endpoint []string
		refresh  []string
	}{
		{"temporary", endpointError{503, "server_error"},
			[]string{"spotify_proxy.refresh.result=error", "http.response.status_code=503", "spotify.error.reason=server_error", "error.type=503"},
			[]string{"spotify_proxy.refresh.outcome=endpoint_error", "error.type=unavailable"}},
		{"invalid grant", endpointError{400, "invalid_grant"},
			[]string{"spotify_proxy.refresh.result=invalid_grant", "http.response.status_code=400", "spotify.error.reason=invalid_grant", "error.type=invalid_grant"},
			[]string{"spotify_proxy.refresh.outcome=reauth_required", "error.type=reauth_required"}},
		{"no answer", context.DeadlineExceeded,
			[]string{"spotify_proxy.refresh.result=error", "http.response.status_code=-", "spotify.error.reason=-", "error.type=timeout"},
			[]string{"spotify_proxy.refresh.outcome=endpoint_error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tokenstore.OpenFileStore(t.TempDir()+"/tokens.json", nil)
			if err != nil {
				t.Fatal(err)
			}
			s := newSpans(t)
			src := tokenstore.NewSource(tokenstore.Config{
				Store: st, Refresher: failingRefresher{tc.err}, ScanInterval: -1, Now: newClock().Now,
				Tracing: tokenstore.Tracing{Provider: s.tp},
			})
			t.Cleanup(func() { src.Close(); st.Close() })
			if _, err := src.Seed(context.Background(), "default", "rt-seed"); err != nil {
				t.Fatal(err)
			}
			_, all := s.request(t, func(ctx context.Context) {
				if _, err := src.Token(ctx, "default"); err == nil {
					t.Fatal("a token without a token call")
				}
			})
			for _, sp := range []struct {
				name string
				want []string
			}{{tokenstore.SpanEndpoint, tc.endpoint}, {tokenstore.SpanRefresh, tc.refresh}} {
				got := spanNamed(t, all, sp.name)
				wantAttrs(t, got, sp.want...)
				if got.Status().Code.String() != "Error" {
					t.Errorf("span %q status %v, want Error", sp.name, got.Status())
				}
			}
		})
	}
}
