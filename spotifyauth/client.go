// Package spotifyauth is the client of Spotify's accounts service, built on
// golang.org/x/oauth2: refresh-token and client-credentials grants for the token
// source, and the authorization-code flow with PKCE for the built-in login.
//
// Client credentials always travel in the Basic header (oauth2.AuthStyleInHeader):
// with auto-detection, oauth2 would retry a failing call with credentials in the
// body, turning one failure into two token-endpoint calls.
//
// The client never follows redirects: a 3xx from the token endpoint would re-send the
// refresh token (307/308 keep the body) and perhaps the Basic credentials to
// wherever it points. A redirect is an error naming SPOTIFY_ACCOUNTS_URL.
//
// Errors never contain tokens or the client secret. A rejected refresh token
// (invalid_grant) wraps tokenstore.ErrInvalidGrant; everything else is temporary.
package spotifyauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Config of a Client.
type Config struct {
	ClientID, ClientSecret string
	AccountsURL            string // e.g. https://accounts.spotify.com
	RedirectURL            string // login flow callback (optional)
	Timeout                time.Duration
	// Transport overrides the HTTP transport (tests, metrics). Default: a dedicated one.
	Transport http.RoundTripper
}

// NewTransport is the Client's default transport to the accounts service, for a
// caller that wraps it (tracing).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// Client calls the token endpoint. It is safe for concurrent use.
type Client struct {
	oauth *oauth2.Config
	cc    *clientcredentials.Config
	http  *http.Client
}

// New builds a Client.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.AccountsURL, "/")
	ep := oauth2.Endpoint{AuthURL: base + "/authorize", TokenURL: base + "/api/token", AuthStyle: oauth2.AuthStyleInHeader}
	rt := cfg.Transport
	if rt == nil {
		rt = NewTransport()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	return &Client{
		oauth: &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: ep, RedirectURL: cfg.RedirectURL},
		cc:    &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: ep.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		http:  &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: refuseRedirect},
	}
}

// RedirectError is a token-endpoint answer that redirected elsewhere: the accounts
// URL is misconfigured (or something in front of it redirects). It names the status
// and the target's host, never its path or query.
type RedirectError struct {
	Status     int
	TargetHost string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the token endpoint answered %d redirecting to host %q; redirects are not followed (they would re-send the credentials): check SPOTIFY_ACCOUNTS_URL", e.Status, e.TargetHost)
}

// refuseRedirect is the client's CheckRedirect: no request is sent to the target.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	e := &RedirectError{TargetHost: req.URL.Host}
	if req.Response != nil {
		e.Status = req.Response.StatusCode
	}
	return e
}

func (c *Client) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

// Refresh implements tokenstore.Refresher. The returned RefreshToken is the one
// Spotify answered, or the one sent when the answer had none.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (tokenstore.Token, error) {
	tok, err := c.oauth.TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return tokenstore.Token{}, mapErr(err)
	}
	return convert(tok), nil
}

// ClientCredentials implements tokenstore.Refresher.
func (c *Client) ClientCredentials(ctx context.Context) (tokenstore.Token, error) {
	tok, err := c.cc.Token(c.ctx(ctx))
	if err != nil {
		return tokenstore.Token{}, mapErr(err)
	}
	t := convert(tok)
	t.RefreshToken = ""
	return t, nil
}

// AuthCodeURL is the authorize URL for a login with PKCE (S256).
func (c *Client) AuthCodeURL(state, verifier, scope string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if scope != "" {
		opts = append(opts, oauth2.SetAuthURLParam("scope", scope))
	}
	return c.oauth.AuthCodeURL(state, opts...)
}

// Exchange trades an authorization code (and its PKCE verifier) for tokens.
func (c *Client) Exchange(ctx context.Context, code, verifier string) (tokenstore.Token, error) {
	tok, err := c.oauth.Exchange(c.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return tokenstore.Token{}, mapErr(err)
	}
	return convert(tok), nil
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

func convert(tok *oauth2.Token) tokenstore.Token {
	t := tokenstore.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scope = s
	}
	return t
}

// Error is a failed token-endpoint call, described without secrets.
type Error struct {
	Status      int    // HTTP status, 0 when no answer came
	Code        string // OAuth error code, e.g. invalid_grant
	Description string
	err         error
}

func (e *Error) Error() string {
	switch {
	case e.Status == 0:
		return "spotify token endpoint: " + e.Description
	case e.Code != "":
		return fmt.Sprintf("spotify token endpoint: status %d: %s: %s", e.Status, e.Code, e.Description)
	default:
		return fmt.Sprintf("spotify token endpoint: status %d", e.Status)
	}
}

func (e *Error) Unwrap() error { return e.err }

// EndpointAnswer implements tokenstore.EndpointError: the status and the OAuth error
// code, which the token endpoint span records.
func (e *Error) EndpointAnswer() (status int, code string) { return e.Status, e.Code }

var _ tokenstore.EndpointError = (*Error)(nil)

func mapErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &Error{Code: re.ErrorCode, Description: re.ErrorDescription}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		if re.ErrorCode == "invalid_grant" {
			e.err = tokenstore.ErrInvalidGrant
		}
		return e
	}
	// Transport errors may quote the URL, never the form body: safe to keep.
	var ue interface{ Timeout() bool }
	desc := err.Error()
	if errors.As(err, &ue) && ue.Timeout() {
		desc = "timeout: " + desc
	}
	return &Error{Description: desc, err: err}
}
