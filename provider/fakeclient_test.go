package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// fakeClient is an in-memory Pulumi Cloud behind the provider's Client interface, for
// engine tests that run in milliseconds and count what the engine asks: stacks with
// deployment settings, lastUpdate and references, and their webhooks. It is not the
// emulator and checks no wire format; the emulator's tests and the contract tests do.
type fakeClient struct {
	mu     sync.Mutex
	now    time.Time
	stacks map[string]*fakeStack // "org/project/stack"
	calls  map[string]int        // method → calls
	// pageSize splits ListStacks into pages, each counted as a call.
	pageSize int
	// afterCreate, when set, runs after each webhook create lands, with the lock held: a
	// test's stand-in for another program writing between this one's checks and its read back.
	afterCreate func(f *fakeClient)
	// afterList, when set, runs after each webhook listing of stack (org/project/stack), with
	// the lock held: another program writing, or settling its pending edges, meanwhile.
	afterList func(f *fakeClient, stack string)
	// createErr, when set, is every webhook create's answer.
	createErr error
}

type fakeStack struct {
	org, project, name string
	settings           map[string]any
	lastUpdate         int64
	reads              []string // project/stack in the same organization
	hooks              []cloud.Webhook
	updating           bool // an update runs: GET stack shows it as its current operation
}

var _ Client = (*fakeClient)(nil)

func newFakeClient() *fakeClient {
	return &fakeClient{now: time.Unix(1_700_000_000, 0), stacks: map[string]*fakeStack{}, calls: map[string]int{},
		pageSize: 100}
}

// addStacks adds deployable stacks org/project/name.
func (f *fakeClient) addStacks(org, project string, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.stacks[org+"/"+project+"/"+n] = &fakeStack{org: org, project: project, name: n,
			settings: map[string]any{"source": "git"}}
	}
}

// addBareStack adds org/project/name without deployment settings.
func (f *fakeClient) addBareStack(org, project, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stacks[org+"/"+project+"/"+name] = &fakeStack{org: org, project: project, name: name}
}

// writes is how many of calls (from took) wrote: creates, updates and deletes of webhooks.
func writes(calls map[string]int) int {
	return calls["CreateWebhookOnce"] + calls["UpdateWebhook"] + calls["DeleteWebhook"]
}

// tick moves the clock on by a second, so a change is in a second of its own.
func (f *fakeClient) tick() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(time.Second)
}

// read records that reader (org/project/stack) reads upstream (project/stack): an update of reader.
func (f *fakeClient) read(reader, upstream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stacks[reader]
	st.reads = append(st.reads, upstream)
	st.lastUpdate = f.now.Unix()
}

// startUpdate starts an update of stack (org/project/stack) that runs until endUpdate:
// lastUpdate moves now, at its start, as the service's does.
func (f *fakeClient) startUpdate(stack string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stacks[stack]
	st.lastUpdate, st.updating = f.now.Unix(), true
}

// endUpdate ends stack's running update, which records that its program reads reads,
// leaving lastUpdate at the update's start.
func (f *fakeClient) endUpdate(stack string, reads ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stacks[stack]
	st.reads, st.updating = reads, false
}

func (f *fakeClient) unread(reader, upstream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stacks[reader]
	st.reads = slices.DeleteFunc(st.reads, func(r string) bool { return r == upstream })
	st.lastUpdate = f.now.Unix()
}

func (f *fakeClient) count(method string) {
	f.calls[method]++
}

// took returns the calls made since the last took, by method, and resets them.
func (f *fakeClient) took() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = map[string]int{}
	return out
}

func (f *fakeClient) stack(scope cloud.WebhookScope) (*fakeStack, error) {
	st, ok := f.stacks[scope.Organization+"/"+scope.Project+"/"+scope.Stack]
	if !ok {
		return nil, fmt.Errorf("stack %s: %w", scope, cloud.ErrNotFound)
	}
	return st, nil
}

func (f *fakeClient) CreateWebhookOnce(_ context.Context, scope cloud.WebhookScope, w cloud.Webhook) (
	cloud.CreateOutcome, cloud.Webhook, error,
) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("CreateWebhookOnce")
	if f.createErr != nil {
		return 0, cloud.Webhook{}, f.createErr
	}
	st, err := f.stack(scope)
	if err != nil {
		return 0, cloud.Webhook{}, err
	}
	for _, h := range st.hooks {
		if h.Name == w.Name {
			return cloud.Occupied, h, nil
		}
	}
	w = stored(w)
	st.hooks = append(st.hooks, w)
	if f.afterCreate != nil {
		then := f.afterCreate
		f.afterCreate = nil
		then(f)
	}
	return cloud.Created, w, nil
}

// stored is w as the service keeps and returns it: never the secret, only that one is set.
func stored(w cloud.Webhook) cloud.Webhook {
	w.HasSecret, w.Secret = w.Secret != "", ""
	return w
}

// addHookLocked puts a webhook on org/project/stack, as another program would.
func (f *fakeClient) addHookLocked(stack string, w cloud.Webhook) {
	st := f.stacks[stack]
	st.hooks = append(st.hooks, w)
}

// setHookLocked replaces (or, with ok false, deletes) the webhook named name on
// org/project/stack, as another program settling its edge would.
func (f *fakeClient) setHookLocked(stack, name string, w cloud.Webhook, ok bool) {
	st := f.stacks[stack]
	i := slices.IndexFunc(st.hooks, func(h cloud.Webhook) bool { return h.Name == name })
	if ok {
		st.hooks[i] = w
	} else {
		st.hooks = slices.Delete(st.hooks, i, i+1)
	}
}

// hooksOf is the webhooks of org/project/stack.
// hooksOf is stack's webhooks but the in-edge marks (marksOf).
func (f *fakeClient) hooksOf(stack string) []cloud.Webhook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(f.stacks[stack].hooks), isMark)
}

// marksOf is the sources of the edges marked on stack (edge.Mark).
func (f *fakeClient) marksOf(stack string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, h := range f.stacks[stack].hooks {
		if source, ok := edge.ParseMark(h); ok {
			out = append(out, source)
		}
	}
	return out
}

func (f *fakeClient) ListWebhooks(_ context.Context, scope cloud.WebhookScope) ([]cloud.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("ListWebhooks")
	st, err := f.stack(scope)
	if err != nil {
		return nil, err
	}
	hooks := slices.Clone(st.hooks)
	if f.afterList != nil {
		f.afterList(f, scope.Organization+"/"+scope.Project+"/"+scope.Stack)
	}
	return hooks, nil
}

func (f *fakeClient) GetWebhook(_ context.Context, scope cloud.WebhookScope, name string) (cloud.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("GetWebhook")
	st, err := f.stack(scope)
	if err != nil {
		return cloud.Webhook{}, err
	}
	for _, h := range st.hooks {
		if h.Name == name {
			return h, nil
		}
	}
	return cloud.Webhook{}, fmt.Errorf("webhook %s: %w", name, cloud.ErrNotFound)
}

func (f *fakeClient) UpdateWebhook(_ context.Context, scope cloud.WebhookScope, name string, w cloud.Webhook) (
	cloud.Webhook, error,
) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("UpdateWebhook")
	st, err := f.stack(scope)
	if err != nil {
		return cloud.Webhook{}, err
	}
	for i, h := range st.hooks {
		if h.Name == name {
			st.hooks[i] = stored(w)
			return st.hooks[i], nil
		}
	}
	return cloud.Webhook{}, fmt.Errorf("webhook %s: %w", name, cloud.ErrNotFound)
}

func (f *fakeClient) DeleteWebhook(_ context.Context, scope cloud.WebhookScope, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("DeleteWebhook")
	st, err := f.stack(scope)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(st.hooks, func(h cloud.Webhook) bool { return h.Name == name })
	if i < 0 {
		return fmt.Errorf("webhook %s: %w", name, cloud.ErrNotFound)
	}
	st.hooks = slices.Delete(st.hooks, i, i+1)
	return nil
}

func (f *fakeClient) GetStack(_ context.Context, org, project, stack string) (cloud.Stack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("GetStack")
	st, err := f.stack(cloud.WebhookScope{Organization: org, Project: project, Stack: stack})
	if err != nil {
		return cloud.Stack{}, err
	}
	s := cloud.Stack{OrgName: st.org, ProjectName: st.project, StackName: st.name}
	if st.updating {
		s.CurrentOperation = &cloud.StackOperation{Kind: "update", Started: st.lastUpdate}
	}
	return s, nil
}

func (f *fakeClient) GetDeploymentSettings(_ context.Context, org, project, stack string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("GetDeploymentSettings")
	st, err := f.stack(cloud.WebhookScope{Organization: org, Project: project, Stack: stack})
	if err != nil {
		return nil, err
	}
	if st.settings == nil {
		return nil, fmt.Errorf("settings: %w", cloud.ErrNotFound)
	}
	return maps.Clone(st.settings), nil
}

// ListStacks filters as the service does (a tag by name and value is not modelled: the
// fake's stacks have none, so a tag filter selects nothing) and counts one call per page.
func (f *fakeClient) ListStacks(_ context.Context, filter cloud.StackFilter) ([]cloud.StackSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []cloud.StackSummary
	for _, key := range slices.Sorted(maps.Keys(f.stacks)) {
		st := f.stacks[key]
		if st.org != filter.Organization || (filter.Project != "" && st.project != filter.Project) ||
			filter.TagName != "" {
			continue
		}
		out = append(out, cloud.StackSummary{OrgName: st.org, ProjectName: st.project, StackName: st.name,
			LastUpdate: st.lastUpdate})
	}
	for range max(1, (len(out)+f.pageSize-1)/f.pageSize) {
		f.count("ListStacks")
	}
	return out, nil
}

func (f *fakeClient) GetDefaultOrganization(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("GetDefaultOrganization")
	return "org", nil
}

func (f *fakeClient) ListWebhookDeliveries(context.Context, cloud.WebhookScope, string) (
	[]cloud.WebhookDelivery, error,
) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("ListWebhookDeliveries")
	return nil, nil
}

// ReadUpstreamReferences answers at the fake's clock, as the service's Date header would.
func (f *fakeClient) ReadUpstreamReferences(_ context.Context, org, project, stack string) (
	cloud.UpstreamReferences, error,
) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("ReadUpstreamReferences")
	st, err := f.stack(cloud.WebhookScope{Organization: org, Project: project, Stack: stack})
	if err != nil {
		return cloud.UpstreamReferences{}, err
	}
	var refs []cloud.StackReference
	for _, r := range st.reads {
		k := stackKey{org: org}.at(r)
		refs = append(refs, cloud.StackReference{Organization: org, Project: k.project, Stack: k.stack})
	}
	return cloud.UpstreamReferences{Stacks: refs, AnsweredAt: f.now}, nil
}

// edges lists the fake's webhooks but marks as "project/stack → target".
func (f *fakeClient) edges() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, st := range f.stacks {
		for _, h := range st.hooks {
			if !isMark(h) {
				out = append(out, st.project+"/"+st.name+" → "+h.PayloadURL)
			}
		}
	}
	slices.Sort(out)
	return out
}

// fakeServer is a provider server whose client is f.
func fakeServer(t *testing.T, f *fakeClient) integration.Server {
	t.Helper()
	prov, err := New(func(string, string) (Client, error) { return f, nil })
	require.NoError(t, err)
	server := newServerFor(t, prov)
	require.NoError(t, server.Configure(p.ConfigureRequest{Args: property.NewMap(map[string]property.Value{
		"apiUrl": property.New("http://127.0.0.1:1"), "accessToken": property.New("fake"),
	})}))
	return server
}
