package provider

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The payload URL is sent as written, so its scheme must be written as the service expects it.
func TestPayloadURLScheme(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"https://hooks.example.com/x": true,
		"http://127.0.0.1:8080/x":     true,
		"HTTPS://hooks.example.com/x": false,
		"httP://0":                    false,
	} {
		err := validatePayloadURL(WebhookFormatRaw, url)
		assert.Equal(t, ok, err == nil, "%s: %v", url, err)
	}
}

// A scheme in capitals is an http(s) URL written the wrong way, and the message says so.
func TestPayloadURLSchemeInCapitalsSaysSo(t *testing.T) {
	t.Parallel()
	err := validatePayloadURL(WebhookFormatRaw, "HTTPS://hooks.example.com/x")
	assert.EqualError(t, err, `payloadUrl "HTTPS://hooks.example.com/x" has its scheme in capitals: write it in `+
		`lower case, "https://hooks.example.com/x", as Pulumi Cloud sends the URL as written`)
	err = validatePayloadURL(WebhookFormatRaw, "ftp://hooks.example.com/x")
	assert.ErrorContains(t, err, "is not an http(s) URL")
}
