package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// The signature Pulumi puts in a state's property values to mark a secret: a map whose SigKey entry is
// SecretSig. In a checkpoint the service exports, the secret's value is then the "ciphertext" entry, the
// base64 of what the stack's secrets provider (for the service, the service itself) encrypted.
// Source: sdk/go/common/resource/properties.go and apitype.SecretV1 in pulumi/pulumi.
const (
	signatureKey = "4dabf18193072939515e22adb298388d"
	secretSig    = "1b47061264138c4ac30d75fd1eb44270"

	// stackResourceType is the type of the root resource every stack has; a program's stack outputs are
	// that resource's outputs.
	stackResourceType = "pulumi:pulumi:Stack"
)

// StackExport is a stack's checkpoint as the service exports it (the CLI's apitype.UntypedDeployment).
// Version is the schema version of Deployment (3 today), not the stack's version. Deployment is kept
// as the raw JSON the service sent, so that nothing this package does not model is lost.
type StackExport struct {
	Version    int             `json:"version"`
	Deployment json.RawMessage `json:"deployment"`
}

// ExportStack reads a stack's checkpoint at a version, or the latest one when version is zero or less.
// A missing stack or version is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/export, or .../export/{version} for a version above zero.
func (c *Client) ExportStack(ctx context.Context, org, project, stack string, version int) (StackExport, error) {
	segs := []string{"stacks", org, project, stack, "export"}
	if version > 0 {
		segs = append(segs, strconv.Itoa(version))
	}
	var out StackExport
	err := c.do(ctx, request{method: http.MethodGet, segs: segs, out: &out})
	return out, err
}

// Outputs returns the stack outputs the checkpoint holds: the outputs of its root pulumi:pulumi:Stack
// resource. Secret values are left as the service encodes them (see IsSecret), because their
// ciphertexts can only be read through BatchDecrypt; a ciphertext says nothing about its value, so two
// versions' secrets are compared by their plaintexts, never by their ciphertexts. Numbers are
// json.Number, so that no integer loses digits. A checkpoint without a Stack resource (a stack never
// updated) has no outputs: an empty map.
func (e StackExport) Outputs() (map[string]any, error) {
	trimmed := bytes.TrimSpace(e.Deployment)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return map[string]any{}, nil
	}
	var d struct {
		Resources []struct {
			URN     string          `json:"urn"`
			Type    string          `json:"type"`
			Parent  string          `json:"parent"`
			Outputs json.RawMessage `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(trimmed, &d); err != nil {
		return nil, fmt.Errorf("cloud: reading the exported deployment: %w", err)
	}
	var root []byte
	found := ""
	for _, r := range d.Resources {
		if r.Type != stackResourceType || r.Parent != "" {
			continue
		}
		if found != "" {
			return nil, fmt.Errorf("cloud: the exported deployment has two root %s resources, %s and %s",
				stackResourceType, found, r.URN)
		}
		found, root = r.URN, r.Outputs
	}
	out := map[string]any{}
	if trimmed := bytes.TrimSpace(root); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(root))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("cloud: reading the outputs of %s: %w", found, err)
	}
	if out == nil {
		return nil, errors.New("cloud: the stack resource's outputs are not a JSON object")
	}
	return out, nil
}

// IsSecret reports whether v, an output value or any value inside one, is a secret as an exported
// checkpoint encodes it: a map whose signature key marks a secret and whose "ciphertext" is a
// non-empty string. It returns that ciphertext, which BatchDecrypt turns into the plaintext.
func IsSecret(v any) (ciphertext string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || m[signatureKey] != secretSig {
		return "", false
	}
	ciphertext, _ = m["ciphertext"].(string)
	return ciphertext, ciphertext != ""
}
