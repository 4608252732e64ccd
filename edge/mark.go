package edge

// In-edge marks. An edge is a webhook on its source, so Pulumi Cloud lists a stack's way down in one
// request, but has no request for the way up: which stacks deploy this one. A writer checking that a
// new edge u → d closes no loop must know that no path leads from d back to u, and without the way up
// it reads every stack below d (hundreds in a large graph). So every auto-deploy writer also marks each
// edge it writes on the edge's target: an inactive raw webhook that delivers nothing, named after the
// source and the writer, whose payload URL names the source. Listing a stack's webhooks then gives its
// edges out and its marked edges in, and a loop check can search from both ends at once and stop at the
// side that ends first (provider/edgeverify.go).
//
// A mark is the writer's alone (its name hashes the source and the owner), so no other writer's add or
// removal of the same edge can take it away: it is written before its writer reads the graph back to
// judge the new edge, and deleted after the edge is gone. A mark without its edge (left by an
// interrupted run) only makes a search read more.

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// markNamePrefix starts the name of every in-edge mark.
const markNamePrefix = "autodeploy-in-"

// markHost is the host of every mark's payload URL: .invalid never resolves (RFC 2606), so a mark
// switched on by hand still delivers nowhere.
const markHost = "in-edge.auto-deploy.invalid"

// fromParam is the query parameter of a mark's payload URL that names the edge's source.
const fromParam = "from"

// MarkName is the name of owner's mark, on an edge's target, of its edge from source ("project/stack"):
// the prefix and 18 hex digits of the SHA-256 of both, 32 characters, the longest name Pulumi Cloud takes.
func MarkName(source, owner string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + owner))
	return markNamePrefix + hex.EncodeToString(sum[:9])
}

// Mark is the webhook that marks owner's edge from source on the edge's target.
func Mark(source, owner string) cloud.Webhook {
	return cloud.Webhook{
		Name:        MarkName(source, owner),
		DisplayName: "auto-deploy in-edge mark: " + source + " deploys this stack (owner: " + owner + ")",
		PayloadURL:  "https://" + markHost + "/?" + fromParam + "=" + url.QueryEscape(source),
		Format:      FormatRelay,
		Active:      false,
	}
}

// ParseMark reads h as a mark, and returns the source of the edge it marks.
func ParseMark(h cloud.Webhook) (source string, ok bool) {
	if !strings.HasPrefix(h.Name, markNamePrefix) || h.Active {
		return "", false
	}
	u, err := url.Parse(h.PayloadURL)
	if err != nil || u.Host != markHost {
		return "", false
	}
	source = u.Query().Get(fromParam)
	if _, _, ok := SplitRef(source); !ok {
		return "", false
	}
	return source, true
}
