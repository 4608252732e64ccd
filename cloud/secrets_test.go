package cloud

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBatchDecryptWireShape(t *testing.T) {
	t.Parallel()
	// "AAEC" and "AwQF" are the base64 of the bytes 00 01 02 and 03 04 05; the plaintexts come back as
	// base64 too: "ImEi" is `"a"`, "MQ==" is `1`.
	srv := &recordingServer{status: http.StatusOK, body: `{"plaintexts":{"AAEC":"ImEi","AwQF":"MQ=="}}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, err := c.BatchDecrypt(t.Context(), "o", "p", "s", []string{"AAEC", "AwQF"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"AAEC": `"a"`, "AwQF": "1"}, got)

	srv.assertOnly(t, http.MethodPost, "/api/stacks/o/p/s/batch-decrypt", `{"ciphertexts":["AAEC","AwQF"]}`)
}

func TestBatchDecryptRefusesWhatItCannotSend(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.BatchDecrypt(t.Context(), "o", "p", "s", nil)
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = c.BatchDecrypt(t.Context(), "o", "p", "s", []string{"AAEC", "not base64!"})
	assert.EqualError(t, err, `cloud: batch-decrypt: ciphertext 1 ("not base64!") is not the non-empty base64 an export carries`)
	_, err = c.BatchDecrypt(t.Context(), "o", "p", "s", []string{""})
	assert.ErrorContains(t, err, "ciphertext 0")
	assert.Zero(t, c.Stats().Requests, "nothing is sent")
}

func TestBatchDecryptMissingPlaintextIsAnError(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"plaintexts":{"AAEC":"ImEi"}}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.BatchDecrypt(t.Context(), "o", "p", "s", []string{"AAEC", "AwQF"})
	assert.EqualError(t, err, "POST /api/stacks/o/p/s/batch-decrypt: the answer has no plaintext for ciphertext 1")
}

// batch-decrypt is a POST that only reads: after an answer that leaves open whether it was applied
// (502, 503, 504) it is retried like a GET, where a create (CreateDeployment) is not.
func TestReadOnlyPostRetriedWhenAmbiguous(t *testing.T) {
	t.Parallel()
	for _, status := range []int{502, 503, 504} {
		f := &flaky{statuses: []int{status}, body: `{"plaintexts":{"AAEC":"ImEi"}}`}
		c, rec := newTestClient(t, f, RetryPolicy{})
		got, err := c.BatchDecrypt(t.Context(), "o", "p", "s", []string{"AAEC"})
		require.NoError(t, err, "status %d", status)
		assert.Equal(t, map[string]string{"AAEC": `"a"`}, got)
		assert.Equal(t, ClientStats{Requests: 2, Retries: 1}, c.Stats())
		assert.Len(t, rec.Waits(), 1)
		assert.Equal(t, []string{`{"ciphertexts":["AAEC"]}`, `{"ciphertexts":["AAEC"]}`}, f.bodies)

		f = &flaky{statuses: []int{status}, body: `{"id":"d"}`}
		c, _ = newTestClient(t, f, RetryPolicy{})
		_, err = c.CreateDeployment(t.Context(), "o", "p", "s", "update")
		require.ErrorIs(t, err, ErrAmbiguous, "status %d", status)
		assert.Equal(t, ClientStats{Requests: 1}, c.Stats(), "a deployment create is never repeated blindly")
	}
}

// TestCreateDeploymentBody pins what the relay's deployments send: the operation and inheritSettings,
// nothing else, so that the stack's own deployment settings decide how it deploys.
func TestCreateDeploymentBody(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusAccepted, body: `{"id":"d-1","consoleUrl":"https://c","version":3}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	ref, err := c.CreateDeployment(t.Context(), "o", "p", "s", "update")
	require.NoError(t, err)
	assert.Equal(t, DeploymentRef{ID: "d-1", ConsoleURL: "https://c", Version: 3}, ref)
	req := srv.only(t)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "/api/stacks/o/p/s/deployments", req.RequestURI)
	assertBody(t, `{"operation":"update","inheritSettings":true}`, req.Body)
}
