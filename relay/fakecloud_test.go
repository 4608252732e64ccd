package relay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// fakeCloud is an in-memory Pulumi Cloud for the relay's tests: stacks with versioned outputs
// (secrets encrypted afresh on every write, so two versions of one secret value never share a
// ciphertext), webhooks, and deployments that finish when first polled unless their stack is
// held. Every deployment start and end gets a number from one sequence, so tests can check
// what ran after what.
type fakeCloud struct {
	mu     sync.Mutex
	org    string
	stacks map[string]*fakeStack
	seq    int
	nextID int
	// onCreate, when set, runs after a deployment was created, outside the lock; an error it
	// returns is what CreateDeployment answers (the deployment exists all the same).
	onCreate func(ctx context.Context, ref string) error
	// dropCreate, when set and returning an error, makes CreateDeployment answer that error
	// without creating anything (a request lost on its way).
	dropCreate func(ref string) error
	posts      map[string]int
}

type fakeStack struct {
	version     int
	outputs     map[int]map[string]any // with Secret values
	next        map[string]any         // what the next deployment writes (plain, secretOf marks secrets)
	hooks       []cloud.Webhook
	deployments []*fakeDeployment
	hold        bool
	fail        bool
}

type fakeDeployment struct {
	cloud.Deployment
	startSeq, endSeq int
}

// secretOf marks an output value the fake stores as a secret.
type secretOf struct{ value any }

func newFakeCloud(org string, refs ...string) *fakeCloud {
	f := &fakeCloud{org: org, stacks: map[string]*fakeStack{}, posts: map[string]int{}}
	for _, ref := range refs {
		f.stacks[ref] = &fakeStack{version: 1, outputs: map[int]map[string]any{1: {}}}
	}
	return f
}

// edge adds the relay webhook for from → to exactly as the provider's contract makes it.
func (f *fakeCloud) edge(from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	project, stack := splitRef(from)
	f.stacks[from].hooks = append(f.stacks[from].hooks, cloud.Webhook{
		OrganizationName: f.org, ProjectName: project, StackName: stack,
		Name: EdgeName(to), DisplayName: "auto-deploy: " + to + " (owner: urn:pulumi:test::graph)",
		PayloadURL: EdgePayloadURL("https://relay.example.com", to), Active: true, Format: "raw",
		Filters: []string{"update_succeeded"}, HasSecret: true,
	})
}

// encrypt stores v with every secretOf value encrypted under a fresh nonce.
func (f *fakeCloud) encrypt(v any) any {
	switch v := v.(type) {
	case secretOf:
		f.seq++
		plain, err := json.Marshal(v.value)
		if err != nil {
			panic(err)
		}
		return Secret{Ciphertext: base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%s", f.seq, plain)))}
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = f.encrypt(e)
		}
		return out
	}
	return v
}

// write makes a new version of st with outputs (nil: the same values, re-encrypted).
func (f *fakeCloud) write(st *fakeStack, outputs map[string]any) int {
	st.version++
	if outputs == nil {
		st.outputs[st.version] = st.outputs[st.version-1]
	} else {
		st.outputs[st.version] = f.encrypt(outputs).(map[string]any)
	}
	return st.version
}

// update is an update made outside the relay (a person running pulumi up); it returns the
// event the service would deliver.
func (f *fakeCloud) update(ref string, outputs map[string]any) Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.write(f.stacks[ref], outputs)
	project, stack := splitRef(ref)
	return Event{Organization: f.org, Project: project, Stack: stack, Version: v}
}

// setNext sets the outputs the next deployments of ref write.
func (f *fakeCloud) setNext(ref string, outputs map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stacks[ref].next = outputs
}

func (f *fakeCloud) setHold(ref string, hold bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stacks[ref].hold = hold
}

func (f *fakeCloud) setFail(ref string, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stacks[ref].fail = fail
}

func (f *fakeCloud) deploymentsOf(ref string) []fakeDeployment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeDeployment
	for _, d := range f.stacks[ref].deployments {
		out = append(out, *d)
	}
	return out
}

func (f *fakeCloud) postsTo(ref string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts[ref]
}

func (f *fakeCloud) stack(org, project, stack string) (*fakeStack, error) {
	st, ok := f.stacks[project+"/"+stack]
	if !ok || org != f.org {
		return nil, &cloud.APIError{Method: "GET", Path: "/api/stacks/" + org + "/" + project + "/" + stack,
			StatusCode: 404, Message: "Stack not found"}
	}
	return st, nil
}

func (f *fakeCloud) ListWebhooks(_ context.Context, s cloud.WebhookScope) ([]cloud.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stack(s.Organization, s.Project, s.Stack)
	if err != nil {
		return nil, err
	}
	return slices.Clone(st.hooks), nil
}

func (f *fakeCloud) GetStack(_ context.Context, org, project, stack string) (cloud.Stack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stack(org, project, stack)
	if err != nil {
		return cloud.Stack{}, err
	}
	return cloud.Stack{OrgName: org, ProjectName: project, StackName: stack, Version: st.version}, nil
}

func (f *fakeCloud) CreateDeployment(ctx context.Context, org, project, stack, operation string) (cloud.DeploymentRef, error) {
	f.mu.Lock()
	st, err := f.stack(org, project, stack)
	if err != nil {
		f.mu.Unlock()
		return cloud.DeploymentRef{}, err
	}
	ref := project + "/" + stack
	f.posts[ref]++
	if f.dropCreate != nil {
		if err := f.dropCreate(ref); err != nil {
			f.mu.Unlock()
			return cloud.DeploymentRef{}, err
		}
	}
	f.nextID++
	f.seq++
	d := &fakeDeployment{Deployment: cloud.Deployment{
		ID: fmt.Sprintf("dep-%d", f.nextID), Status: "running", Version: len(st.deployments) + 1, Operation: operation,
	}, startSeq: f.seq}
	st.deployments = append(st.deployments, d)
	hook := f.onCreate
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, ref); err != nil {
			return cloud.DeploymentRef{}, err
		}
	}
	return cloud.DeploymentRef{ID: d.ID, Version: d.Version}, nil
}

// finishLocked ends a running deployment unless its stack is held.
func (f *fakeCloud) finishLocked(st *fakeStack, d *fakeDeployment) {
	if d.Status != "running" || st.hold {
		return
	}
	f.seq++
	d.endSeq = f.seq
	if st.fail {
		d.Status = "failed"
		return
	}
	d.Status = "succeeded"
	f.write(st, st.next)
}

func (f *fakeCloud) GetDeployment(_ context.Context, org, project, stack, id string) (cloud.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stack(org, project, stack)
	if err != nil {
		return cloud.Deployment{}, err
	}
	for _, d := range st.deployments {
		if d.ID == id {
			f.finishLocked(st, d)
			return d.Deployment, nil
		}
	}
	return cloud.Deployment{}, &cloud.APIError{StatusCode: 404, Message: "Deployment " + id + " not found"}
}

func (f *fakeCloud) GetDeploymentByVersion(_ context.Context, org, project, stack string, version int) (cloud.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stack(org, project, stack)
	if err != nil {
		return cloud.Deployment{}, err
	}
	if version < 1 || version > len(st.deployments) {
		return cloud.Deployment{}, &cloud.APIError{StatusCode: 404, Message: "Deployment not found"}
	}
	return st.deployments[version-1].Deployment, nil
}

func (f *fakeCloud) ListDeployments(_ context.Context, org, project, stack string, page, pageSize int) ([]cloud.Deployment, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stack(org, project, stack)
	if err != nil {
		return nil, 0, err
	}
	var newestFirst []cloud.Deployment
	for i := len(st.deployments) - 1; i >= 0; i-- {
		newestFirst = append(newestFirst, st.deployments[i].Deployment)
	}
	page, pageSize = max(page, 1), max(pageSize, 1)
	from := min((page-1)*pageSize, len(newestFirst))
	to := min(from+pageSize, len(newestFirst))
	return newestFirst[from:to], len(newestFirst), nil
}

func (f *fakeCloud) StackOutputs(_ context.Context, org, project, stack string, version int) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stack(org, project, stack)
	if err != nil {
		return nil, err
	}
	out, ok := st.outputs[version]
	if !ok {
		return nil, &cloud.APIError{StatusCode: 404, Message: fmt.Sprintf("version %d not found", version)}
	}
	return out, nil
}

func (f *fakeCloud) BatchDecrypt(_ context.Context, _, _, _ string, ciphertexts []string) (map[string]string, error) {
	out := map[string]string{}
	for _, ct := range ciphertexts {
		raw, err := base64.StdEncoding.DecodeString(ct)
		if err != nil {
			return nil, err
		}
		_, plain, _ := strings.Cut(string(raw), ":")
		out[ct] = plain
	}
	return out, nil
}
