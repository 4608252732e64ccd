package emulator

import (
	"encoding/json"
	"net/http"
	"time"
)

// Stack versions and outputs.
//
// Every update of a stack writes a new version: FireUpdate, the admin update route, and every
// successful deployment whose operation changes the stack. Each version keeps a snapshot of the stack's
// outputs: the ones the update gave, or else the previous version's, carried over. Export answers a
// version's snapshot as the outputs of a checkpoint's root pulumi:pulumi:Stack resource, with secrets
// encrypted; batch-decrypt reads them back. Secrets are kept encrypted only, and each version encrypts
// its secrets afresh (see sealer), carried-over ones included.

// StackOutputs is the whole set of outputs an update leaves on a stack: Plain values as they are and
// Secret values stored as secrets. A name is in one of the two or in neither; both empty is a stack
// without outputs. Values are anything JSON can encode.
type StackOutputs struct {
	Plain  map[string]any `json:"outputs,omitempty"`
	Secret map[string]any `json:"secretOutputs,omitempty"`
}

// storedOutput is one output of a snapshot: a plain value, or the ciphertext of a secret's JSON.
type storedOutput struct {
	value      any
	ciphertext string
}

// snapshot is a stack's outputs at one version.
type snapshot struct {
	version int
	time    time.Time
	outputs map[string]storedOutput
}

// normalizeOutputs checks the outputs an update gives and copies them through JSON, so the store keeps
// nothing a caller can still reach and every value is what a checkpoint can hold. nil stays nil: the
// update leaves the outputs as they were.
func normalizeOutputs(o *StackOutputs) (*StackOutputs, error) {
	if o == nil {
		return nil, nil
	}
	out := &StackOutputs{Plain: map[string]any{}, Secret: map[string]any{}}
	for _, part := range []struct {
		field string
		in    map[string]any
		into  map[string]any
	}{{"outputs", o.Plain, out.Plain}, {"secretOutputs", o.Secret, out.Secret}} {
		for name, v := range part.in {
			if name == "" {
				return nil, errorf(http.StatusBadRequest, "%s: an output name must not be empty", part.field)
			}
			if _, dup := o.Plain[name]; dup && part.field == "secretOutputs" {
				return nil, errorf(http.StatusBadRequest,
					"output %q is in both outputs and secretOutputs: give each output once", name)
			}
			data, err := json.Marshal(v)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "%s.%s is not JSON: %v", part.field, name, err)
			}
			var copied any
			_ = json.Unmarshal(data, &copied)
			part.into[name] = copied
		}
	}
	return out, nil
}

// writeVersionLocked records the end of a successful update of st: a new version whose outputs are
// next, or the previous version's when next is nil. (The update's start moved lastUpdate.) Callers
// hold s.mu and pass next through normalizeOutputs.
func (s *store) writeVersionLocked(st *stack, now time.Time, next *StackOutputs) {
	st.version++
	snap := snapshot{version: st.version, time: now, outputs: map[string]storedOutput{}}
	switch {
	case next != nil:
		for name, v := range next.Plain {
			snap.outputs[name] = storedOutput{value: v}
		}
		for name, v := range next.Secret {
			data, _ := json.Marshal(v)
			snap.outputs[name] = storedOutput{ciphertext: s.sealer.seal(st.id, data)}
		}
	case len(st.snapshots) > 0:
		for name, o := range st.snapshots[len(st.snapshots)-1].outputs {
			if o.ciphertext != "" {
				plain, err := s.sealer.openString(st.id, o.ciphertext)
				if err != nil {
					panic("emulator: a stored secret does not decrypt: " + err.Error())
				}
				o.ciphertext = s.sealer.seal(st.id, plain)
			}
			snap.outputs[name] = o
		}
	}
	st.snapshots = append(st.snapshots, snap)
}

// stackCheckpoint is what an export of one version answers with, in the store's terms.
type stackCheckpoint struct {
	org, project, name, id string
	version                int
	time                   time.Time
	// outputs are the snapshot's outputs, secrets as the envelope a checkpoint holds them in.
	outputs map[string]any
}

// The signature a checkpoint's property values use to mark a secret (sdk/go/common/resource in
// pulumi/pulumi): a map whose signatureKey entry is secretSig, with the value's ciphertext beside it.
const (
	signatureKey = "4dabf18193072939515e22adb298388d"
	secretSig    = "1b47061264138c4ac30d75fd1eb44270"
)

// StackCheckpoint returns a stack's outputs at a version, or at its latest when version is 0. A stack
// never updated has version 0 and no outputs; any other version it does not have is a 404.
func (s *store) StackCheckpoint(org, project, name string, version int) (stackCheckpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return stackCheckpoint{}, err
	}
	cp := stackCheckpoint{org: st.org, project: st.project, name: st.name, id: st.id, outputs: map[string]any{}}
	if version == 0 {
		version = st.version
	}
	if version == 0 {
		cp.time = st.created
		return cp, nil
	}
	if version < 1 || version > len(st.snapshots) {
		return stackCheckpoint{}, errorf(http.StatusNotFound,
			"Stack '%s/%s/%s' has no version %d: its versions are 1 to %d", st.org, st.project, st.name, version,
			st.version)
	}
	snap := st.snapshots[version-1]
	cp.version, cp.time = snap.version, snap.time
	for outName, o := range snap.outputs {
		if o.ciphertext != "" {
			cp.outputs[outName] = map[string]any{signatureKey: secretSig, "ciphertext": o.ciphertext}
		} else {
			cp.outputs[outName] = copyJSONValue(o.value)
		}
	}
	return cp, nil
}

// DecryptSecrets decrypts ciphertexts of a stack's secrets and returns the plaintexts in the same order.
// A ciphertext that is not one of this stack's is a 400 naming its position: the whole request fails,
// as a partial answer would let a caller mistake a missing secret for an empty one.
func (s *store) DecryptSecrets(org, project, name string, ciphertexts [][]byte) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ciphertexts))
	for i, ct := range ciphertexts {
		plain, err := s.sealer.open(st.id, ct)
		if err != nil {
			return nil, errorf(http.StatusBadRequest,
				"ciphertexts[%d] does not decrypt for stack '%s/%s/%s': it is not a ciphertext of this stack's secrets",
				i, st.org, st.project, st.name)
		}
		out[i] = plain
	}
	return out, nil
}

// StackOutputsAt returns a stack's outputs at a version (0: the latest) in plain text, secrets
// decrypted, for in-process tests. The HTTP API never answers secrets in plain text.
func (s *store) StackOutputsAt(org, project, name string, version int) (StackOutputs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return StackOutputs{}, err
	}
	if version == 0 {
		version = st.version
	}
	out := StackOutputs{Plain: map[string]any{}, Secret: map[string]any{}}
	if version == 0 {
		return out, nil
	}
	if version < 1 || version > len(st.snapshots) {
		return StackOutputs{}, errorf(http.StatusNotFound, "Stack '%s/%s/%s' has no version %d",
			st.org, st.project, st.name, version)
	}
	for outName, o := range st.snapshots[version-1].outputs {
		if o.ciphertext == "" {
			out.Plain[outName] = copyJSONValue(o.value)
			continue
		}
		plain, err := s.sealer.openString(st.id, o.ciphertext)
		if err != nil {
			return StackOutputs{}, errorf(http.StatusInternalServerError, "secret %q does not decrypt", outName)
		}
		var v any
		_ = json.Unmarshal(plain, &v)
		out.Secret[outName] = v
	}
	return out, nil
}
