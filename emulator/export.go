package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
)

// Exports and batch-decrypt: what a consumer of a stack's outputs reads. The shapes are the Pulumi CLI's
// (sdk/go/common/apitype): an export is an UntypedDeployment {version, deployment} whose deployment is a
// DeploymentV3, and batch-decrypt takes a BatchDecryptRequest {ciphertexts: [base64...]} and answers a
// BatchDecryptResponse {plaintexts: {base64 ciphertext: base64 plaintext}}. The emulator runs no
// programs, so a checkpoint holds one resource, the root pulumi:pulumi:Stack, whose outputs are the
// stack's outputs at that version (store_outputs.go).

// checkpointSchemaVersion is the DeploymentV3 schema version an export carries.
const checkpointSchemaVersion = 3

// checkpointManifestVersion stands where a checkpoint names the CLI that wrote it.
const checkpointManifestVersion = "pulumi-cloud-emulator"

type checkpointWire struct {
	Version    int              `json:"version"`
	Deployment deploymentV3Wire `json:"deployment"`
}

type deploymentV3Wire struct {
	Manifest         manifestWire        `json:"manifest"`
	SecretsProviders secretsProviderWire `json:"secrets_providers"`
	Resources        []resourceV3Wire    `json:"resources,omitempty"`
}

type manifestWire struct {
	Time    string `json:"time"`
	Magic   string `json:"magic"`
	Version string `json:"version"`
}

// secretsProviderWire says the service encrypted the checkpoint's secrets, for this stack.
type secretsProviderWire struct {
	Type  string            `json:"type"`
	State map[string]string `json:"state"`
}

type resourceV3Wire struct {
	URN      string         `json:"urn"`
	Custom   bool           `json:"custom"`
	Type     string         `json:"type"`
	Outputs  map[string]any `json:"outputs"`
	Created  string         `json:"created,omitempty"`
	Modified string         `json:"modified,omitempty"`
}

func (s *Server) registerExportRoutes() {
	const base = "/api/stacks/{org}/{project}/{stack}"
	s.handle(s.api, "GET "+base+"/export", s.exportStack)
	s.handle(s.api, "GET "+base+"/export/{version}", s.exportStack)
	s.handle(s.api, "POST "+base+"/batch-decrypt", s.batchDecrypt)
}

// exportStack answers a stack's checkpoint at the latest version or at the one the path names. A
// version that is not a positive number is a 404, like one the stack does not have.
func (s *Server) exportStack(r *http.Request) (int, any, error) {
	org, project, name := stackPath(r)
	version := 0
	if v := r.PathValue("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, errorf(http.StatusNotFound, "Stack '%s/%s/%s' has no version %q", org, project, name, v)
		}
		version = n
	}
	cp, err := s.store.StackCheckpoint(org, project, name, version)
	if err != nil {
		return 0, nil, err
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	magic := sha256.Sum256([]byte(checkpointManifestVersion))
	d := deploymentV3Wire{
		Manifest: manifestWire{Time: timestamp(cp.time), Magic: fmt.Sprintf("%x", magic),
			Version: checkpointManifestVersion},
		SecretsProviders: secretsProviderWire{Type: "service", State: map[string]string{
			"url": scheme + "://" + r.Host, "owner": cp.org, "project": cp.project, "stack": cp.name,
		}},
	}
	if cp.version > 0 {
		d.Resources = []resourceV3Wire{{
			URN:     fmt.Sprintf("urn:pulumi:%s::%s::pulumi:pulumi:Stack::%s-%s", cp.name, cp.project, cp.project, cp.name),
			Type:    "pulumi:pulumi:Stack",
			Outputs: cp.outputs,
			Created: timestamp(cp.time), Modified: timestamp(cp.time),
		}}
	}
	return http.StatusOK, checkpointWire{Version: checkpointSchemaVersion, Deployment: d}, nil
}

// batchDecrypt decrypts ciphertexts of a stack's secrets. Any that is not base64, or not one of this
// stack's, fails the whole request with 400.
func (s *Server) batchDecrypt(r *http.Request) (int, any, error) {
	var req struct {
		Ciphertexts *[]string `json:"ciphertexts"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Ciphertexts == nil {
		return 0, nil, errorf(http.StatusBadRequest, "ciphertexts is required: a list of base64 ciphertexts from an export")
	}
	raw := make([][]byte, len(*req.Ciphertexts))
	for i, ct := range *req.Ciphertexts {
		b, err := base64.StdEncoding.DecodeString(ct)
		if err != nil {
			return 0, nil, errorf(http.StatusBadRequest, "ciphertexts[%d] is not base64: %v", i, err)
		}
		raw[i] = b
	}
	org, project, name := stackPath(r)
	plains, err := s.store.DecryptSecrets(org, project, name, raw)
	if err != nil {
		return 0, nil, err
	}
	out := make(map[string][]byte, len(raw))
	for i, b := range raw {
		out[base64.StdEncoding.EncodeToString(b)] = plains[i]
	}
	return http.StatusOK, map[string]map[string][]byte{"plaintexts": out}, nil
}
