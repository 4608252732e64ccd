package provider

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A long value full of multi-byte characters is quoted cut short, never cut inside a character.
func TestValidationMessagesQuoteLongValuesAsValidUTF8(t *testing.T) {
	t.Parallel()
	// "a" first puts every "é" at an odd offset, so byte maxQuotedBytes falls inside one.
	value := "a" + strings.Repeat("é", maxQuotedBytes)
	for _, err := range []error{
		validateCloudName("stack", value),
		validatePayloadURL(WebhookFormatRaw, value),
	} {
		require.Error(t, err)
		assert.True(t, utf8.ValidString(err.Error()), "not valid UTF-8: %q", err.Error())
		assert.Contains(t, err.Error(), "é…")
	}
}
