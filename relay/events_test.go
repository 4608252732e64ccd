package relay

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    string
		body    string
		event   Event
		ignored string
		err     string
	}{
		{
			name: "the service's payload", kind: "stack_update",
			body: `{"organization":{"name":"Acme Inc","githubLogin":"acme"},"projectName":"p","stackName":"s",` +
				`"updateUrl":"https://app.pulumi.com/acme/p/s/updates/7","kind":"update","result":"succeeded"}`,
			event: Event{Organization: "acme", Project: "p", Stack: "s", Version: 7},
		},
		{
			name:  "an explicit version and a plain organization",
			body:  `{"organization":"acme","projectName":"p","stackName":"s","version":9}`,
			event: Event{Organization: "acme", Project: "p", Stack: "s", Version: 9},
		},
		{name: "a refresh", kind: "stack_update", body: `{"kind":"refresh","result":"succeeded"}`,
			ignored: `a "refresh" operation starts nothing: only successful updates do`},
		{name: "a deployment event", kind: "deployment", body: `{}`,
			ignored: "a deployment event starts nothing: only successful updates (stack_update) do"},
		{name: "no organization", kind: "stack_update", body: `{"projectName":"p","stackName":"s","version":1}`,
			err: "the payload has no organization"},
		{name: "a bad stack name", kind: "stack_update",
			body: `{"organization":"acme","projectName":"p","stackName":"a b","version":1}`,
			err:  `projectName "p" and stackName "a b" must both be valid names (1-100 letters, digits, '-', '_' or '.')`},
	}
	for _, tt := range tests {
		ev, ignored, err := parseDelivery(tt.kind, []byte(tt.body))
		assert.Equal(t, tt.event, ev, tt.name)
		assert.Equal(t, tt.ignored, ignored, tt.name)
		if tt.err == "" {
			assert.NoError(t, err, tt.name)
		} else {
			assert.EqualError(t, err, tt.err, tt.name)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	secrets := [][]byte{[]byte("new"), []byte("old")}
	assert.NoError(t, verifySignature(body, sign(body, "new"), secrets))
	assert.NoError(t, verifySignature(body, sign(body, "old"), secrets))
	assert.NoError(t, verifySignature(body, " "+sign(body, "new")+"\n", secrets))
	assert.ErrorIs(t, verifySignature(body, sign(body, "other"), secrets), errBadSignature)
	assert.ErrorIs(t, verifySignature(body, "", secrets), errNoSignature)
	assert.ErrorIs(t, verifySignature(body, sign(body, "new")[:10], secrets), errBadSignature)
}
