package cloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
)

// BatchDecrypt decrypts secrets of a stack, given their ciphertexts as an export carries them (see
// IsSecret), and returns each plaintext by its ciphertext. A plaintext is what the Pulumi CLI
// encrypted: the JSON text of the secret's value, so a string secret "x" comes back as `"x"`, quotes
// included, and must be decoded as JSON to compare it with another value.
//
// The request and answer have the shapes of the CLI's apitype.BatchDecryptRequest and
// BatchDecryptResponse: byte strings travel as base64, and the answer is keyed by the base64 of each
// ciphertext, which is the string an export shows. Only reading, it is retried after an ambiguous
// failure like a GET, as the CLI retries it, although it is a POST. A ciphertext the answer lacks is an
// error.
//
// Calls POST /api/stacks/{org}/{project}/{stack}/batch-decrypt.
func (c *Client) BatchDecrypt(
	ctx context.Context, org, project, stack string, ciphertexts []string,
) (map[string]string, error) {
	out := make(map[string]string, len(ciphertexts))
	if len(ciphertexts) == 0 {
		return out, nil
	}
	raw := make([][]byte, len(ciphertexts))
	for i, ct := range ciphertexts {
		b, err := base64.StdEncoding.DecodeString(ct)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("cloud: batch-decrypt: ciphertext %d (%.20q) is not the non-empty base64 an "+
				"export carries", i, ct)
		}
		raw[i] = b
	}
	var resp struct {
		Plaintexts map[string][]byte `json:"plaintexts"`
	}
	err := c.do(ctx, request{
		method: http.MethodPost,
		segs:   []string{"stacks", org, project, stack, "batch-decrypt"},
		body:   map[string][][]byte{"ciphertexts": raw},
		out:    &resp,
		read:   true,
	})
	if err != nil {
		return nil, err
	}
	for i, ct := range ciphertexts {
		// The answer's keys are the canonical base64 of each ciphertext; ct decoded, so it is that.
		plain, ok := resp.Plaintexts[base64.StdEncoding.EncodeToString(raw[i])]
		if !ok {
			return nil, fmt.Errorf("POST /api/stacks/%s/%s/%s/batch-decrypt: the answer has no plaintext for "+
				"ciphertext %d", org, project, stack, i)
		}
		out[ct] = string(plain)
	}
	return out, nil
}
