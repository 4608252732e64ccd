package cloud_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// TestTruncateNeverSplitsACharacter cuts text of 1-, 2-, 3- and 4-byte characters at every
// length: the result is valid UTF-8, the longest whole-character prefix that fits, plus "…".
func TestTruncateNeverSplitsACharacter(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("aé€😀", 8) + "😀€éa"
	for n := -1; n <= len(s)+1; n++ {
		got := cloud.Truncate(s, n)
		assert.True(t, utf8.ValidString(got), "Truncate(s, %d) = %q is not valid UTF-8", n, got)
		if n >= len(s) {
			assert.Equal(t, s, got, "n=%d", n)
			continue
		}
		kept, ok := strings.CutSuffix(got, "…")
		if !assert.True(t, ok, "Truncate(s, %d) = %q does not end in …", n, got) {
			continue
		}
		assert.True(t, strings.HasPrefix(s, kept), "n=%d: %q is not a prefix", n, kept)
		assert.LessOrEqual(t, len(kept), max(n, 0), "n=%d", n)
		if n > 0 {
			_, size := utf8.DecodeRuneInString(s[len(kept):])
			assert.Greater(t, len(kept)+size, n, "n=%d: %q could keep one more character", n, kept)
		}
	}
}

func TestTruncateShortStringsUnchanged(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", cloud.Truncate("", 5))
	assert.Equal(t, "héllo", cloud.Truncate("héllo", len("héllo")))
	assert.Equal(t, "h…", cloud.Truncate("héllo", 2), "é straddles byte 2: it goes whole")
}
