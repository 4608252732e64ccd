// Package pgtest starts a throwaway PostgreSQL server for tests and benchmarks: Debian's
// package (`make postgres-deps` installs it), a cluster made by initdb in a temporary directory,
// listening on a unix socket in that directory only, removed when the test ends. No mock: the
// relay's SQL runs on the real thing.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
)

// Start starts a PostgreSQL server of its own for tb and returns the URL of its "postgres"
// database, reachable by the superuser "postgres" without a password. The server stops and
// its files go when tb ends. A missing PostgreSQL skips tb, unless CI=true: then it fails.
func Start(tb testing.TB) string {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			tb.Fatalf("pgtest: %v", err)
		}
		tb.Skipf("pgtest: %v", err)
	}
	// The server refuses to run as root; the package's "postgres" user runs it then. Its
	// directory is not under tb.TempDir, whose parents only root may enter.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred, err = postgresUser()
		if err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run(cred, filepath.Join(bin, "initdb"), "--pgdata", data, "--username", "postgres",
		"--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// Only the unix socket in dir: no TCP port to collide with another test's server.
	server := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	var logs syncbuf.Buffer
	server.Stdout, server.Stderr = &logs, &logs
	// Pdeathsig stops the server with the test binary, even when a timeout kills that outright.
	server.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := server.Start(); err != nil {
		tb.Fatalf("pgtest: starting postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = server.Wait(); close(exited) }()
	tb.Cleanup(func() {
		// SIGQUIT is PostgreSQL's immediate shutdown: nothing here is worth a checkpoint.
		_ = server.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	u := (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode()}).String()
	ready := filepath.Join(bin, "pg_isready")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := run(nil, ready, "-q", "-h", dir, "-U", "postgres"); err == nil {
			return u
		}
		select {
		case <-exited:
			tb.Fatalf("pgtest: postgres exited at start:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgtest: postgres did not accept connections within 30s:\n%s", logs.String())
		}
	}
}

// binDir finds the newest PostgreSQL installed the Debian way, /usr/lib/postgresql/N/bin.
func binDir() (string, error) {
	if dir := os.Getenv("PGTEST_BIN"); dir != "" {
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	if len(found) == 0 {
		return "", fmt.Errorf("no PostgreSQL server in /usr/lib/postgresql/*/bin: run `make postgres-deps` " +
			"(or set PGTEST_BIN to the directory holding initdb and postgres)")
	}
	return filepath.Dir(found[0]), nil
}

func version(postgres string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(postgres))))
	return n
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the \"postgres\" user its package creates: %w "+
			"(run `make postgres-deps`)", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func run(cred *syscall.Credential, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// initdb as another user must not start in a directory that user cannot read.
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}
