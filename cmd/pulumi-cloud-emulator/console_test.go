package main

import (
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunSaysWhereTheConsoleIs(t *testing.T) {
	t.Parallel()
	base, stderr, stop := startRun(t, []string{"--addr", "127.0.0.1:0", "--token", "t", "--quiet"}, noEnv)
	assert.Contains(t, stderr.String(), "console: "+base+"/ ", "the console line follows the base URL, --quiet or not")

	res, err := http.Get(base + "/")
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))

	require.NoError(t, stop())
}

func TestConsoleLine(t *testing.T) {
	t.Parallel()
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 8383} }
	assert.Contains(t, consoleLine(tcp("127.0.0.1")), "console: http://127.0.0.1:8383/ ")
	assert.Contains(t, consoleLine(tcp("::1")), "console: http://[::1]:8383/ ")
	assert.Contains(t, consoleLine(tcp("0.0.0.0")), "console: http://127.0.0.1:8383/ ")
	assert.Contains(t, consoleLine(tcp("::")), "console: http://127.0.0.1:8383/ ")
	assert.Contains(t, consoleLine(tcp("192.0.2.7")), "console: none on 192.0.2.7:8383")
}
