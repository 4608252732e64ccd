//go:build unix

// Package cdp drives headless Chromium for the browser tests of the project's pages (the emulator's
// console, the relay's status page): start it, send DevTools-protocol commands to its page, evaluate
// JavaScript, wait for the DOM, click, and take screenshots. The standard library only, so the module
// takes on no browser-automation dependency.
//
// It needs /usr/bin/chromium (Debian's chromium package; `make browser-deps` installs it), or the
// browser named by $CHROMIUM. Without one a test skips, except under CI=true, where it fails.
package cdp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
)

// A minimal DevTools-protocol client: start Chromium, open a websocket to its page, send
// commands and read their answers, and collect the page's JavaScript errors. It speaks just enough of
// RFC 6455 for that: masked text frames out, text/continuation/ping/close frames in.

// chromiumFlags keep headless Chromium off the network and out of the user's profile.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
	"--no-first-run", "--disable-component-update", "--disable-sync", "--disable-extensions",
	"--disable-default-apps", "--hide-scrollbars", "--window-size=1280,900",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
}

// chromiumPath finds the browser: $CHROMIUM, else Debian's /usr/bin/chromium, else chromium on $PATH.
// Without one the test skips locally but fails under CI=true, where a skipped browser test would
// silently stop testing the page.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "no Chromium: install Debian's chromium package (`make browser-deps`, or " +
		"`apt-get install -y chromium`) or set $CHROMIUM to a Chromium binary"
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var devtoolsRE = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Browser is a running headless Chromium and a DevTools session on its one page.
type Browser struct {
	t      testing.TB
	page   *cdpConn
	stderr *syncbuf.Buffer
}

// Start launches Chromium with a fresh profile and attaches to its blank page. Cleanup stops
// the browser (its whole process group) and removes the profile.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := chromiumPath(t)
	profile, err := os.MkdirTemp("", "cdp-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+profile, "about:blank")
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium forks helpers; kill them all
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = os.RemoveAll(profile)
	})

	// Chromium prints the DevTools address on stderr; keep the rest for diagnostics.
	stderr := &syncbuf.Buffer{}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			stderr.WriteLine(sc.Text())
			if m := devtoolsRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("Chromium did not print its DevTools address within 30s; stderr:\n%s", stderr)
	}

	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	pageWS, err := pageTarget(t.Context(), u.Host)
	if err != nil {
		t.Fatalf("finding Chromium's page: %v; stderr:\n%s", err, stderr)
	}
	conn, err := dialCDP(t.Context(), pageWS)
	if err != nil {
		t.Fatalf("connecting to Chromium's page: %v", err)
	}
	t.Cleanup(conn.Close)
	b := &Browser{t: t, page: conn, stderr: stderr}
	for _, domain := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		b.Call(domain, nil, nil)
	}
	return b
}

// pageTarget asks Chromium's HTTP endpoint for the websocket of its first page.
func pageTarget(ctx context.Context, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/json/list", nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = res.Body.Close() }()
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(res.Body).Decode(&targets); err != nil {
		return "", err
	}
	for _, tg := range targets {
		if tg.Type == "page" && tg.WS != "" {
			return tg.WS, nil
		}
	}
	return "", fmt.Errorf("no page among %d targets", len(targets))
}

// Call runs a DevTools command and decodes its result into result (when not nil), failing the test on
// any error.
func (b *Browser) Call(method string, params, result any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.t.Context(), 30*time.Second)
	defer cancel()
	if err := b.page.Call(ctx, method, params, result); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
}

// Eval evaluates a JavaScript expression in the page, awaiting a promise, and decodes its value.
func (b *Browser) Eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	ctx, cancel := context.WithTimeout(b.t.Context(), 30*time.Second)
	defer cancel()
	err := b.page.Call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &res)
	if err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("%s %s", e.Text, e.Exception.Description)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// MustEval is Eval that fails the test on error.
func (b *Browser) MustEval(expr string, out any) {
	b.t.Helper()
	if err := b.Eval(expr, out); err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
}

// WaitFor polls the page until expr is true, failing after timeout with what the page shows then.
// Polling the DOM, rather than sleeping, keeps the test as fast as the page and tolerant of slow machines.
func (b *Browser) WaitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		var ok bool
		lastErr = b.Eval("Boolean("+expr+")", &ok)
		if lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			_ = b.Eval("document.body ? document.body.innerText : ''", &text)
			b.t.Fatalf("timed out after %s waiting for %s (%s; last error: %v); the page shows:\n%s",
				timeout, what, expr, lastErr, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Click presses and releases the left mouse button at the centre of the element, as a user would: the
// element must be visible and not covered for the click to reach it.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	var at struct{ X, Y float64 }
	b.MustEval(fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) throw new Error("no element matches " + %q);
		e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect();
		return {X: r.x + r.width / 2, Y: r.y + r.height / 2};
	})()`, selector, selector), &at)
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p := map[string]any{"type": typ, "x": at.X, "y": at.Y}
		if typ != "mouseMoved" {
			p["button"] = "left"
			p["clickCount"] = 1
		}
		b.Call("Input.dispatchMouseEvent", p, nil)
	}
}

// Screenshot captures the whole page, not only the window, as PNG.
func (b *Browser) Screenshot() []byte {
	b.t.Helper()
	var metrics struct {
		Content struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	b.Call("Page.getLayoutMetrics", nil, &metrics)
	var shot struct {
		Data string `json:"data"`
	}
	b.Call("Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": metrics.Content.Width, "height": metrics.Content.Height, "scale": 1},
	}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	return png
}

// PageErrors returns the JavaScript exceptions, console.error calls and browser-logged errors (a
// refused Content-Security-Policy, a failed request) the page has had so far.
func (b *Browser) PageErrors() []string { return b.page.Errors() }

// cdpConn is one DevTools websocket session.
type cdpConn struct {
	ws *wsConn

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	errs    []string
	readErr error
	done    chan struct{}
}

type cdpMessage struct {
	ID     int64           `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func dialCDP(ctx context.Context, wsURL string) (*cdpConn, error) {
	ws, err := dialWS(ctx, wsURL)
	if err != nil {
		return nil, err
	}
	c := &cdpConn{ws: ws, pending: map[int64]chan cdpMessage{}, done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

func (c *cdpConn) Close() {
	_ = c.ws.Close()
	<-c.done
}

func (c *cdpConn) readLoop() {
	defer close(c.done)
	for {
		data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch := c.pending[m.ID]; ch != nil {
				ch <- m
				delete(c.pending, m.ID)
			}
		} else if msg := pageError(m); msg != "" {
			c.errs = append(c.errs, msg)
		}
		c.mu.Unlock()
	}
}

// pageError turns the events that report a problem in the page into a line of text.
func pageError(m cdpMessage) string {
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		_ = json.Unmarshal(m.Params, &p)
		return "exception: " + p.Details.Text + " " + p.Details.Exception.Description
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string            `json:"type"`
			Args []json.RawMessage `json:"args"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.Type == "error" || p.Type == "assert" {
			args := make([]string, len(p.Args))
			for i, a := range p.Args {
				args[i] = string(a)
			}
			return fmt.Sprintf("console.%s: %s", p.Type, strings.Join(args, " "))
		}
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level  string `json:"level"`
				Source string `json:"source"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.Entry.Level == "error" {
			return fmt.Sprintf("%s error: %s %s", p.Entry.Source, p.Entry.Text, p.Entry.URL)
		}
	}
	return ""
}

// Call sends a command and waits for its answer.
func (c *cdpConn) Call(ctx context.Context, method string, params, result any) error {
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		return c.readErr
	}
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()

	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := c.ws.WriteText(data); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("connection closed: %w", c.readErr)
		}
		if m.Error != nil {
			return fmt.Errorf("%d %s", m.Error.Code, m.Error.Message)
		}
		if result != nil && len(m.Result) > 0 {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Errors returns the page errors seen so far.
func (c *cdpConn) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// wsConn is the client end of a websocket.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialWS opens a websocket. It sends no Origin header, which Chromium's DevTools endpoint accepts
// without --remote-allow-origins.
func dialWS(ctx context.Context, rawURL string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("only ws:// URLs are supported, not %q", rawURL)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, key); err != nil {
		_ = conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		_ = conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s: %s", res.Status, body)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		_ = conn.Close()
		return nil, errors.New("websocket handshake: wrong Sec-WebSocket-Accept")
	}
	_ = conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, br: br}, nil
}

func (w *wsConn) Close() error { return w.conn.Close() }

// WriteText sends one text message in one frame, masked as clients must.
func (w *wsConn) WriteText(p []byte) error { return w.writeFrame(0x1, p) }

func (w *wsConn) writeFrame(opcode byte, p []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	hdr := []byte{0x80 | opcode}
	switch n := len(p); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xFFFF:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, len(p))
	for i := range p {
		masked[i] = p[i] ^ mask[i%4]
	}
	_, err := w.conn.Write(append(hdr, masked...))
	return err
}

// ReadMessage returns the next whole text or binary message, answering pings on the way.
func (w *wsConn) ReadMessage() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0F
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(w.br, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(w.br, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		var mask []byte
		if h[1]&0x80 != 0 { // servers do not mask, but tolerate it
			mask = make([]byte, 4)
			if _, err := io.ReadFull(w.br, mask); err != nil {
				return nil, err
			}
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes is too large", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, err
		}
		if mask != nil {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8: // close
			return nil, io.EOF
		case 0x9: // ping
			if err := w.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA: // pong
			continue
		case 0x0, 0x1, 0x2:
			msg = append(msg, payload...)
			if fin {
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("websocket: unexpected opcode %d", opcode)
		}
	}
}

// SaveScreenshot writes a screenshot for people to look at (the tests check the DOM, not pixels) to the
// path in $envVar, by default bin/name at the root of the repository, and returns where it went.
func SaveScreenshot(t testing.TB, png []byte, envVar, name string) string {
	t.Helper()
	path := os.Getenv(envVar)
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(root, "bin", name)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// repoRoot is the nearest directory above the test's that holds the module's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/autodeploy-dev/pulumi-auto-deploy\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of github.com/autodeploy-dev/pulumi-auto-deploy above the test's directory")
		}
		dir = parent
	}
}
