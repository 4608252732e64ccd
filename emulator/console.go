package emulator

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The console is a page for people: the stacks, the deployment graph the pulumi_deployments webhooks
// make, the deployments and the failed deliveries, and a button per stack that fires an update through
// the admin API and shows the cascade it sets off. It is plain HTML, CSS and JavaScript embedded in the
// binary, loads nothing from anywhere else and draws the graph itself as SVG.
//
// Like the admin API it takes no token, so it answers only requests from loopback addresses: the page
// shows the whole store, and its button changes it.

//go:embed console
var consoleFiles embed.FS

// consolePrefix serves the page's assets and its data.
const consolePrefix = "/_emulator/console/"

// consoleCSP lets the page load its own script and stylesheet and call its own origin, nothing else.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) registerConsoleRoutes() {
	assets, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic("emulator: console assets: " + err.Error())
	}
	files := http.StripPrefix(consolePrefix, http.FileServerFS(assets))
	s.adminPatterns = append(s.adminPatterns, "GET "+consolePrefix+"data", "GET "+consolePrefix+"{file}")
	s.admin.Handle("GET "+consolePrefix+"data", loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, s.store.ConsoleView())
	})))
	s.admin.Handle("GET "+consolePrefix+"{file}", loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := r.PathValue("file"); f == "index.html" || !strings.Contains(f, ".") {
			// The page itself lives at /; FileServer would answer index.html with a redirect anyway.
			http.NotFound(w, r)
			return
		}
		setConsoleHeaders(w)
		files.ServeHTTP(w, r)
	})))
}

// serveConsole answers GET / with the console page.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errorf(http.StatusMethodNotAllowed, "the console only answers GET"))
			return
		}
		page, err := consoleFiles.ReadFile("console/index.html")
		if err != nil {
			writeError(w, err)
			return
		}
		setConsoleHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		if r.Method == http.MethodGet {
			_, _ = w.Write(page)
		}
	})).ServeHTTP(w, r)
}

func setConsoleHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// loopbackOnly refuses, with 403, requests that did not come from a loopback address. It looks at the
// connection's address only: forwarding headers are the client's word and prove nothing.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r.RemoteAddr) {
			writeError(w, errorf(http.StatusForbidden,
				"the emulator console only answers requests from loopback addresses, not %s", r.RemoteAddr))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
