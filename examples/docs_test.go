package examples

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The registry overview quotes the a–f example in every language; it must quote the
// programs that the e2e tests run, not a copy that drifts.
func TestDocsQuoteTheExamples(t *testing.T) {
	t.Parallel()
	docs, err := os.ReadFile("../docs/_index.md")
	require.NoError(t, err)
	for _, example := range []string{
		"typescript/auto-deployer/index.ts",
		"python/auto-deployer/__main__.py",
		"go/auto-deployer/main.go",
		"csharp/auto-deployer/Program.cs",
		"yaml/auto-deployer/Pulumi.yaml",
	} {
		program, err := os.ReadFile(example)
		require.NoError(t, err)
		assert.True(t, strings.Contains(string(docs), strings.TrimRight(string(program), "\n")),
			"docs/_index.md does not quote %s as it is", example)
	}
}
