//go:build e2e

package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// relayProcess is the relay binary a benchmark runs, with the last lines of its log for failure
// messages.
type relayProcess struct {
	cmd   *exec.Cmd
	ended chan struct{}
	// baselined is closed once the relay adopted an organization's baseline (its log says so).
	baselined chan struct{}
	log       *relayTail
	url       string
	stopOnce  sync.Once
}

// startRelayProcess runs the relay binary bin with args, the emulator's token and secret in its
// environment, copies its log to keep when keep is not nil, and waits for it to listen. It is
// stopped when t ends, if not before.
func startRelayProcess(t *testing.T, bin, secret string, keep io.Writer, args ...string) *relayProcess {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PULUMI_ACCESS_TOKEN="+e2e.TestToken, "AUTO_DEPLOY_RELAY_SECRET="+secret)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &relayProcess{cmd: cmd, ended: make(chan struct{}), baselined: make(chan struct{}), log: &relayTail{}}
	listening := make(chan string, 1)
	var baselineOnce sync.Once
	go func() {
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			p.log.add(scanner.Text())
			if keep != nil {
				_, _ = fmt.Fprintln(keep, scanner.Text())
			}
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(scanner.Bytes(), &rec) == nil && rec.Msg == "listening" {
				listening <- rec.Addr
			}
			if strings.HasPrefix(rec.Msg, "baseline adopted") {
				baselineOnce.Do(func() { close(p.baselined) })
			}
		}
		_ = cmd.Wait()
		close(p.ended)
	}()
	select {
	case a := <-listening:
		p.url = "http://" + a
	case <-p.ended:
		t.Fatalf("the relay exited before listening:\n%s", p.log)
	case <-time.After(time.Minute):
		t.Fatal("the relay did not listen within a minute")
	}
	t.Cleanup(p.stop)
	return p
}

// stop stops the relay with SIGTERM and waits for it to exit, once.
func (p *relayProcess) stop() {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.ended
	})
}

// relayTail keeps the relay's last log lines for a failure message.
type relayTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *relayTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines[max(0, len(l.lines)-30):], line)
}

func (l *relayTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
