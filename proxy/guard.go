package proxy

import (
	"net/http"
	"strings"
)

// allowedMethods is the Allow header of a 405: the methods the Web API uses.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"

// refuse answers a request the proxy will not forward, and returns the status sent
// (0: go on). It looks only at the request line and headers, so a refused request
// never reaches the token source or the body. The order: the method, the target,
// the Host, then whether a browser sent it.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request) int {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	case http.MethodOptions:
		// Only browsers send OPTIONS (CORS preflights); a 403 without CORS headers
		// makes the browser give up.
		return p.fail(w, http.StatusForbidden, "PROXY_FORBIDDEN_ORIGIN", "browsers cannot use this proxy (CORS preflight refused); call it from a server", 0)
	default:
		w.Header().Set("Allow", allowedMethods)
		return p.fail(w, http.StatusMethodNotAllowed, "PROXY_METHOD_NOT_ALLOWED", "only GET, HEAD, POST, PUT, PATCH and DELETE are forwarded to the Spotify Web API", 0)
	}
	if r.URL.Host != "" {
		if r.URL.Host != p.cfg.Upstream.Host {
			return p.fail(w, http.StatusBadRequest, "PROXY_FORBIDDEN_TARGET", "absolute-form request targets for other hosts are refused", 0)
		}
		// An absolute-form target naming the upstream (a client that uses the
		// proxy as its HTTP proxy): net/http took Host from it, so the Host check
		// does not apply; the browser check still does.
	} else if !p.hostAllowed(r.Host) {
		return p.fail(w, http.StatusMisdirectedRequest, "PROXY_FORBIDDEN_HOST", "this Host is not one the proxy answers; add it to ALLOWED_HOSTS", 0)
	}
	if fromBrowser(r.Header) {
		return p.fail(w, http.StatusForbidden, "PROXY_FORBIDDEN_ORIGIN", "browsers cannot use this proxy (the request has an Origin or a cross-site Sec-Fetch-Site); call it from a server", 0)
	}
	return 0
}

// hostAllowed reports whether host (a Host header: name, optional port) is one of
// AllowedHosts. It does not allocate.
func (p *Proxy) hostAllowed(host string) bool {
	if p.allowedHosts == nil {
		return true
	}
	name := hostName(host)
	for _, h := range p.allowedHosts {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// hostName is host without its port, IPv6 brackets and a trailing dot. A malformed
// host comes back as it is, and matches no allowed name.
func hostName(host string) string {
	if strings.HasPrefix(host, "[") {
		i := strings.IndexByte(host, ']')
		if i < 0 || (i+1 < len(host) && host[i+1] != ':') {
			return host
		}
		return host[1:i]
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i+1:], ':') < 0 {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}

// fromBrowser reports whether a browser sent the request: it has an Origin (every
// cross-origin request and every same-origin POST), or a Sec-Fetch-Site other than
// "none". Server-side clients send neither (Node's fetch sends Sec-Fetch-Mode, which
// says nothing about the page behind it).
//
// "same-origin" is refused too: the proxy serves no pages, so a same-origin request
// comes from a DNS-rebound name (a hostile page whose name now points at the proxy).
// "none" is a navigation the user started (typing the URL, a bookmark): no page is
// behind it, and it is how one looks at the proxy from a browser.
func fromBrowser(h http.Header) bool {
	if _, ok := h["Origin"]; ok {
		return true
	}
	for _, v := range h["Sec-Fetch-Site"] {
		if v != "none" {
			return true
		}
	}
	return false
}
