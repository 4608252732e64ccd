package emulator

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The admin API and the console take no token: they are for the developer's own machine. Two attacks
// reach such a server from a browser on that machine anyway, and localOnly refuses both for every
// request that can change state (any method but GET, HEAD and OPTIONS; no GET of the admin API changes
// anything):
//
//   - DNS rebinding: a page from evil.example, whose name then resolves to 127.0.0.1, sends requests
//     the browser thinks are same-origin. They arrive with "Host: evil.example", so a Host that is not a
//     loopback address or localhost is refused.
//   - Cross-site requests: a page of any other site may POST to http://127.0.0.1:port (a form does not
//     even need CORS). Browsers say where such a request comes from in Origin and Sec-Fetch-Site, so an
//     Origin that is not a loopback one, or Sec-Fetch-Site: cross-site, is refused.
//
// Tools such as curl send neither Origin nor Sec-Fetch-Site and address the host they connect to, so
// scripts are unaffected. The /api/ routes need the token and are not guarded.

// localOnly refuses, with 403 and the reason, a request that may change state but is addressed to a
// host that is not this machine or comes from another site.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkLocalRequest(r); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkLocalRequest(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !loopbackHost(r.Host) {
		return errorf(http.StatusForbidden,
			"refused: the Host header %q is not 127.0.0.1, [::1] or localhost; the emulator's admin API and console "+
				"change state only for requests addressed to this machine (protection against DNS rebinding)", r.Host)
	}
	if origin := r.Header.Get("Origin"); origin != "" && !loopbackOrigin(origin) {
		return errorf(http.StatusForbidden,
			"refused: the request comes from the page %q, which is not on this machine; the emulator's admin API and "+
				"console do not take cross-site requests", origin)
	}
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
		return errorf(http.StatusForbidden,
			"refused: Sec-Fetch-Site is cross-site; the emulator's admin API and console do not take cross-site requests")
	}
	return nil
}

// loopbackHost reports whether a Host header (host, host:port, [v6] or [v6]:port) names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host != "" && loopbackHostname(host)
}

// loopbackOrigin reports whether an Origin header is an http(s) origin on this machine. "null", which
// sandboxed pages and file: URLs send, is not.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return loopbackHostname(u.Hostname())
}
