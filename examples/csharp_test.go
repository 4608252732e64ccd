package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// There is no .NET toolchain on these machines, so the C# examples cannot be compiled
// here. This checks them against the generated C# SDK instead: every SDK type, enum
// member and property they use must exist in sdk/dotnet, and their project files must
// reference the package the SDK builds.
func TestCSharpExamplesMatchTheSDK(t *testing.T) {
	t.Parallel()
	sdk := readAll(t, "../sdk/dotnet", ".cs")
	csproj, err := filepath.Glob("../sdk/dotnet/*.csproj")
	require.NoError(t, err)
	require.Len(t, csproj, 1)
	packageID := strings.TrimSuffix(filepath.Base(csproj[0]), ".csproj")
	namespace := regexp.MustCompile(`namespace (\S+)`).FindStringSubmatch(sdk)[1]

	alias := regexp.MustCompile(`using (\w+) = ([\w.]+);`)
	member := regexp.MustCompile(`\b(\w+)\.(\w+)(?:\.(\w+))?`)
	initializer := regexp.MustCompile(`(?m)^\s+(\w+) = `)
	for _, example := range []string{"deployment-webhooks", "auto-deployer", "deployment-graph", "always-deploy"} {
		t.Run(example, func(t *testing.T) {
			t.Parallel()
			program := readAll(t, filepath.Join("csharp", example), ".cs")
			project := readAll(t, filepath.Join("csharp", example), ".csproj")
			assert.Contains(t, project, `Include="`+packageID+`"`)

			m := alias.FindStringSubmatch(program)
			require.NotNil(t, m, "the example imports the SDK under an alias, as the seed does")
			assert.Equal(t, namespace, m[2])
			used := 0
			for _, ref := range member.FindAllStringSubmatch(program, -1) {
				if ref[1] != m[1] {
					continue
				}
				used++
				if ref[2] == "Inputs" { // a type of the SDK's Inputs namespace, such as an args class
					assert.Regexp(t, `(class|struct) `+ref[3]+`\b`, sdk, "type %s", ref[0])
					continue
				}
				assert.Regexp(t, `(class|struct) `+ref[2]+`\b`, sdk, "type %s.%s", ref[1], ref[2])
				if ref[3] != "" {
					// An enum member, or a static method such as a function's Invoke.
					assert.Regexp(t, `public static (`+ref[2]+` `+ref[3]+` \{|.* `+ref[3]+`\()`, sdk,
						"enum member or static method %s", ref[0])
				}
			}
			assert.Positive(t, used)
			for _, prop := range initializer.FindAllStringSubmatch(program, -1) {
				assert.Regexp(t, `public Input(List|Map)?<.+>\?? `+prop[1]+`\b`, sdk, "input property %s", prop[1])
			}
			if strings.Contains(program, ".Ref") {
				assert.Contains(t, sdk, "public Output<string> Ref ")
			}
		})
	}
}

func readAll(t *testing.T, dir, ext string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ext {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		return err
	})
	require.NoError(t, err)
	require.NotZero(t, b.Len(), "no %s files in %s", ext, dir)
	return b.String()
}
