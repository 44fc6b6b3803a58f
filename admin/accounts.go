package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/apierror"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Paging of GET /admin/v1/accounts.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
	maxCursor        = 1024
)

// Reasons of the admin API's own errors; those of the token source's failures are
// apierror's.
const (
	reasonBadRequest = apierror.ReasonBadRequest
	reasonTooLarge   = "ADMIN_BODY_TOO_LARGE"
)

// account returns the request's {id}, answering 400 when it is not a valid id.
func account(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !tokenstore.ValidAccount(id) {
		apierror.Write(w, http.StatusBadRequest, reasonBadRequest, "invalid account id: 1 to 128 characters of A-Z a-z 0-9 . _ @ -", 0)
		return "", false
	}
	return id, true
}

// putToken: PUT /admin/v1/accounts/{id}/token stores a delivered token.
func (s *Server) putToken(w http.ResponseWriter, r *http.Request) {
	id, ok := account(w, r)
	if !ok {
		return
	}
	if r.ContentLength > MaxDeliveryBody {
		apierror.Write(w, http.StatusRequestEntityTooLarge, reasonTooLarge, "the body is larger than "+strconv.Itoa(MaxDeliveryBody)+" bytes", 0)
		return
	}
	d, err := decodeDelivery(http.MaxBytesReader(w, r.Body, MaxDeliveryBody), s.now())
	if err != nil {
		var br *badRequest
		if errors.As(err, &br) && br.status == http.StatusRequestEntityTooLarge {
			apierror.Write(w, br.status, reasonTooLarge, br.msg, 0)
		} else {
			apierror.Write(w, http.StatusBadRequest, reasonBadRequest, err.Error(), 0)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	isNew := false
	if s.cfg.Events != nil {
		_, found, err := s.linked(ctx, id)
		isNew = err == nil && !found
	}
	err = s.cfg.Tokens.Deliver(ctx, id, d)
	if err == nil {
		s.log.Info("token delivered", "account", id, "with_access_token", d.AccessToken != "", "remote", r.RemoteAddr)
		if isNew {
			s.cfg.Events.Linked(ctx, id, cmp.Or(d.AuthorizedAt, d.ObtainedAt, s.now()))
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a, known := apierror.ForStore(err)
	switch {
	case !known:
		s.log.Error("token delivery failed", "account", id, "error", err)
	case a.Status >= 500:
		s.log.Warn("token delivery gave up", "account", id, "reason", a.Reason)
	default:
		s.log.Info("token delivery refused", "account", id, "reason", a.Reason, "remote", r.RemoteAddr)
	}
	a.Write(w)
}

// tokenResponse is the body of GET /admin/v1/accounts/{id}/token. It never holds
// the refresh token.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// getToken: GET /admin/v1/accounts/{id}/token hands a fresh access token to a
// front end (e.g. the Web Playback SDK, which needs a token in the browser).
func (s *Server) getToken(w http.ResponseWriter, r *http.Request) {
	id, ok := account(w, r)
	if !ok {
		return
	}
	cred, err := s.cfg.Tokens.Fresh(r.Context(), id)
	if err != nil {
		a, known := apierror.ForToken(err, apierror.TokenResource)
		if !known {
			if r.Context().Err() != nil {
				return // the caller went away; nobody reads an answer
			}
			s.log.Error("token source failed", "account", id, "error", err)
		}
		a.Write(w)
		return
	}
	left := cred.Expiry.Sub(s.now())
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: cred.AccessToken, TokenType: "Bearer", ExpiresAt: cred.Expiry.UTC().Format(time.RFC3339),
		ExpiresIn: max(int64(left/time.Second), 0), Scope: cred.Scope,
	})
}

// deleteAccount: DELETE /admin/v1/accounts/{id}; 204 also when there was nothing.
// delete deletes the account's tokens and announces it (account.deleted), for the
// API and the operator page alike.
func (s *Server) delete(ctx context.Context, id string) error {
	if err := s.cfg.Tokens.Delete(ctx, id); err != nil {
		return err
	}
	if s.cfg.Events != nil {
		s.cfg.Events.Deleted(ctx, id)
	}
	return nil
}

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	id, ok := account(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	err := s.delete(ctx, id)
	if err == nil {
		s.log.Info("account deleted", "account", id, "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a, known := apierror.ForStore(err)
	if !known {
		s.log.Error("account deletion failed", "account", id, "error", err)
	}
	a.Write(w)
}

// accountInfo is one account of the list: no secrets. Times are RFC 3339, null
// when unknown.
type accountInfo struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	ExpiresAt    *string `json:"expires_at"`
	Scope        string  `json:"scope"`
	RefreshedAt  *string `json:"refreshed_at"`
	AuthorizedAt *string `json:"authorized_at"`
	// RefreshTokenExpiresAt is authorized_at + Config.RefreshTokenLifetime: when the
	// user has to authorise the app again, whatever the refreshes. Null without a
	// lifetime or an authorisation time.
	RefreshTokenExpiresAt *string `json:"refresh_token_expires_at"`
}

type accountList struct {
	Accounts []accountInfo `json:"accounts"`
	// NextCursor is the cursor of the next page, "" on the last page.
	NextCursor string `json:"next_cursor"`
}

// statusCorrupt is listed for a record that cannot be decoded (wrong key, unknown format).
const statusCorrupt = "corrupt"

// listAccounts: GET /admin/v1/accounts?cursor=…&limit=… (limit 1 to 1000, default
// 100; larger limits are lowered to 1000).
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			apierror.Write(w, http.StatusBadRequest, reasonBadRequest, "limit must be a positive integer", 0)
			return
		}
		limit = min(n, MaxListLimit)
	}
	cursor := q.Get("cursor")
	if len(cursor) > maxCursor {
		apierror.Write(w, http.StatusBadRequest, reasonBadRequest, "cursor is too long", 0)
		return
	}
	recs, next, err := s.cfg.Tokens.List(r.Context(), cursor, limit)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Error("listing accounts failed", "error", err)
			a, _ := apierror.ForStore(err)
			a.Write(w)
		}
		return
	}
	out := accountList{Accounts: make([]accountInfo, 0, len(recs)), NextCursor: next}
	for _, rec := range recs {
		info := accountInfo{ID: rec.Account, Status: string(rec.Status), Scope: rec.Scope,
			ExpiresAt: timeOrNil(rec.Expiry), RefreshedAt: timeOrNil(rec.RefreshedAt), AuthorizedAt: timeOrNil(rec.AuthorizedAt)}
		if lt := s.cfg.RefreshTokenLifetime; lt > 0 && !rec.AuthorizedAt.IsZero() {
			info.RefreshTokenExpiresAt = timeOrNil(rec.AuthorizedAt.Add(lt))
		}
		if info.Status == "" {
			info.Status = statusCorrupt
		}
		out.Accounts = append(out.Accounts, info)
	}
	writeJSON(w, http.StatusOK, out)
}

func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
