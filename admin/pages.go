package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// pageCSS is the pages' only style; the CSP allows it by its hash.
const pageCSS = `body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;background:#f5f5f7;margin:0}` +
	`main{max-width:36rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}` +
	`h1{font-size:1.4rem;margin:0 0 1rem}dl{display:grid;grid-template-columns:9.5rem 1fr;gap:.35rem 1rem;margin:1rem 0}` +
	`dt{font-weight:600;color:#555}dd{margin:0}code{background:#f0f0f2;padding:.05rem .35rem;border-radius:4px;font-size:.9em;white-space:nowrap}` +
	`label{display:block;font-weight:600;margin:.8rem 0 .3rem}input[type=password],input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #bbb;border-radius:6px}` +
	`button{font:inherit;padding:.5rem 1.1rem;border:0;border-radius:6px;background:#1db954;color:#fff;font-weight:600;cursor:pointer;margin-top:1rem}` +
	`button.quiet{background:none;color:#555;padding:0;margin:0;text-decoration:underline;font-weight:normal}` +
	`.warn{border-left:4px solid #d97706;background:#fff7e6;padding:.75rem 1rem;margin:1rem 0}.error{color:#b42318;font-weight:600}` +
	`.actions{display:flex;gap:1rem;align-items:baseline}footer{margin-top:2rem;font-size:.9rem;color:#666}`

// styleHash is the CSP source of pageCSS.
var styleHash = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var pageTemplates = template.Must(template.New("pages").Parse(`
{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · spotify-token-proxy</title><style>` + pageCSS + `</style></head>
<body><main><h1>{{.Title}}</h1>
{{end}}
{{define "foot"}}{{if .CSRF}}<footer><form method="post" action="/auth/signout"><input type="hidden" name="csrf_token" value="{{.CSRF}}"><button class="quiet" type="submit">Sign out</button></form></footer>{{end}}
</main></body></html>
{{end}}
{{define "message"}}{{template "head" .}}<p>{{.Message}}</p>{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>{{end}}{{template "foot" .}}{{end}}
{{define "signin"}}{{template "head" .}}<p>Sign in with the proxy's admin token (ADMIN_TOKEN).</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/auth/signin"><input type="hidden" name="next" value="{{.Next}}">
<label for="token">Admin token</label><input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form>{{template "foot" .}}{{end}}
{{define "account"}}{{template "head" .}}<p>Which proxy account should the Spotify login be stored under?</p>
<form method="get" action="/auth/login">
<label for="account">Account</label><input id="account" name="account" type="text" required maxlength="128" pattern="[A-Za-z0-9._@\-]+">
<label for="scope">Scopes (space separated)</label><input id="scope" name="scope" type="text" value="{{.Scope}}">
<button type="submit">Review</button></form>{{template "foot" .}}{{end}}
{{define "confirm"}}{{template "head" .}}
<p>Continuing sends you to Spotify to authorise the app; the account's tokens are stored when Spotify sends the user back.</p>
<dl><dt>Account</dt><dd><code>{{.Account}}</code></dd>
<dt>Scopes requested</dt><dd>{{range .Scopes}}<code>{{.}}</code> {{else}}none{{end}}</dd></dl>
{{with .Linked}}<div class="warn" role="alert"><strong>Account {{$.Account}} is already linked.</strong> Continuing replaces its token with the one from this login, and Spotify will ask for consent again.</div>
<dl><dt>Status</dt><dd>{{.Status}}</dd>
<dt>Linked</dt><dd>{{or .AuthorizedAt "unknown"}}</dd>
<dt>Last refreshed</dt><dd>{{or .RefreshedAt "never"}}</dd>
{{if .ReauthAt}}<dt>Needs login since</dt><dd>{{.ReauthAt}}</dd>{{end}}
<dt>Current scopes</dt><dd>{{range .Scopes}}<code>{{.}}</code> {{else}}none{{end}}</dd></dl>{{end}}
<form method="post" action="/auth/login"><input type="hidden" name="csrf_token" value="{{.CSRF}}">
<input type="hidden" name="account" value="{{.Account}}"><input type="hidden" name="scope" value="{{.Scope}}">
<div class="actions"><button type="submit">{{if .Linked}}Replace the token: continue to Spotify{{else}}Continue to Spotify{{end}}</button> <a href="/auth/login">Cancel</a></div></form>
{{template "foot" .}}{{end}}
`))

// pageData is what the page templates show; every value is escaped.
type pageData struct {
	Title, Message, Link, LinkText string
	Next, Error                    string // sign-in form
	Account, Scope                 string
	Scopes                         []string
	Linked                         *linkedAccount // the account's current record, when it exists
	CSRF                           string         // set on pages of a session: the sign-out button
}

type linkedAccount struct {
	Status, AuthorizedAt, RefreshedAt, ReauthAt string
	Scopes                                      []string
}

// securePage sets the headers of every browser-facing answer: nothing cached, no
// script or resource loads but the pages' own style, forms posted only to this
// origin (and formAction, where a form's answer redirects: Chrome checks
// form-action on redirects), not framed, no Referer leaking the callback's query.
func securePage(h http.Header, formAction string) {
	if formAction != "" {
		formAction = " " + formAction
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+styleHash+
		"; form-action 'self'"+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// render answers the page template name with d.
func render(w http.ResponseWriter, status int, name, formAction string, d pageData) {
	h := w.Header()
	securePage(h, formAction)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplates.ExecuteTemplate(w, name, d)
}

// page answers a small HTML page; title and message are escaped by html/template.
func page(w http.ResponseWriter, status int, title, message string) {
	render(w, status, "message", "", pageData{Title: title, Message: message})
}
