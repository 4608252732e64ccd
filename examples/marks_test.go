//go:build e2e

package examples

import (
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

var withoutMarks = e2e.WithoutMarks

// markedEdges lists the emulator's in-edge marks as edgeOwners keys them, "source → project/target",
// the source's project left out as edgeOwners leaves it.
func markedEdges(c *cloud) []string {
	var out []string
	for _, h := range c.Webhooks() {
		if source, ok := e2e.MarkSource(h); ok {
			_, stack, _ := strings.Cut(source, "/")
			out = append(out, stack+" → "+h.Project+"/"+h.Stack)
		}
	}
	return out
}
