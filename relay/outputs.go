package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// ciphertexts lists the ciphertexts of the secrets inside v.
func ciphertexts(v any, into []string) []string {
	switch v := v.(type) {
	case Secret:
		return append(into, v.Ciphertext)
	case map[string]any:
		for _, e := range v {
			into = ciphertexts(e, into)
		}
	case []any:
		for _, e := range v {
			into = ciphertexts(e, into)
		}
	}
	return into
}

// revealed is a secret's decrypted value, kept apart from a plain value that happens to be
// equal, so that an output turning secret counts as a change.
type revealed struct{ value any }

// revealSecrets replaces every Secret inside v by its value, decoded from the plaintexts
// BatchDecrypt returned. The result is only compared, never logged or stored.
func revealSecrets(v any, plaintexts map[string]string) (any, error) {
	switch v := v.(type) {
	case Secret:
		plain, ok := plaintexts[v.Ciphertext]
		if !ok {
			return nil, errors.New("the service returned no plaintext for a secret output")
		}
		var value any
		dec := json.NewDecoder(strings.NewReader(plain))
		dec.UseNumber()
		if err := dec.Decode(&value); err != nil {
			// Not JSON: compare the text itself.
			value = plain
		}
		return revealed{value}, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := revealSecrets(e, plaintexts)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := revealSecrets(e, plaintexts)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// outputsComparer answers Judge's question, whether a parent's outputs changed between two
// versions, reading each stack version's outputs (and decrypting its secrets) once. The ready
// stacks of a step are judged concurrently and often share parents, so it is safe for
// concurrent use, and a version asked for while it loads waits for that load.
type outputsComparer struct {
	cloud Cloud
	org   string
	mu    sync.Mutex
	seen  map[string]*loadedOutputs // "project/stack@version"
}

// loadedOutputs is one version's revealed outputs, or why they could not be read, once done
// is closed.
type loadedOutputs struct {
	done    chan struct{}
	outputs map[string]any
	err     error
}

func newOutputsComparer(c Cloud, org string) *outputsComparer {
	return &outputsComparer{cloud: c, org: org, seen: map[string]*loadedOutputs{}}
}

func (o *outputsComparer) changed(ctx context.Context, parent string, from, to int) (bool, error) {
	a, err := o.outputs(ctx, parent, from)
	if err != nil {
		return false, &compareError{parent: parent, err: err}
	}
	b, err := o.outputs(ctx, parent, to)
	if err != nil {
		return false, &compareError{parent: parent, err: err}
	}
	return !OutputsEqual(a, b), nil
}

// compareError is a parent's outputs that could not be read, naming the parent.
type compareError struct {
	parent string
	err    error
}

func (e *compareError) Error() string { return fmt.Sprintf("the outputs of %s: %v", e.parent, e.err) }
func (e *compareError) Unwrap() error { return e.err }

// OutputsEqual compares two stacks' outputs as decoded from JSON, with secrets already replaced by
// their plaintexts (revealSecrets), so a secret is compared by value.
func OutputsEqual(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }

func (o *outputsComparer) outputs(ctx context.Context, ref string, version int) (map[string]any, error) {
	key := fmt.Sprintf("%s@%d", ref, version)
	o.mu.Lock()
	l, loading := o.seen[key]
	if !loading {
		l = &loadedOutputs{done: make(chan struct{})}
		o.seen[key] = l
	}
	o.mu.Unlock()
	if loading {
		select {
		case <-l.done:
			return l.outputs, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.outputs, l.err = o.load(ctx, ref, version)
	if l.err != nil {
		// Only those already waiting share a failure; a later question asks again.
		o.mu.Lock()
		delete(o.seen, key)
		o.mu.Unlock()
	}
	close(l.done)
	return l.outputs, l.err
}

func (o *outputsComparer) load(ctx context.Context, ref string, version int) (map[string]any, error) {
	project, stack := splitRef(ref)
	raw, err := o.cloud.StackOutputs(ctx, o.org, project, stack, version)
	if err != nil {
		return nil, fmt.Errorf("reading the outputs of version %d: %w", version, err)
	}
	var plaintexts map[string]string
	if cts := ciphertexts(raw, nil); len(cts) > 0 {
		plaintexts, err = o.cloud.BatchDecrypt(ctx, o.org, project, stack, cts)
		if err != nil {
			return nil, fmt.Errorf("decrypting the secret outputs of version %d: %w", version, err)
		}
	}
	out, err := revealSecrets(raw, plaintexts)
	if err != nil {
		return nil, fmt.Errorf("version %d: %w", version, err)
	}
	return out.(map[string]any), nil
}
