//go:build e2e && bench

package bench

// In-process benchmarks of the provider's hot path, for pprof: the same tree as TestBench
// driven through the provider's own entry points (Check, Create, Diff, Read, Delete) as
// the engine calls them, against an emulator on a loopback port. No engine, no CLI: what
// is left is the provider's own cost, and the API latency it has to hide.
//
//	go test -tags "e2e bench" -run '^$' -bench BenchmarkProvider -benchtime 3x \
//	    -cpuprofile bin/cpu.out -memprofile bin/mem.out ./bench/
//	go tool pprof -top bin/cpu.out
//
// BenchmarkPluginStart needs AUTO_DEPLOY_BIN: it starts the built plugin until it
// announces its port, as the engine and the YAML language host do on every command.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blang/semver"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
	"github.com/autodeploy-dev/pulumi-auto-deploy/provider"
)

const (
	benchAutoDeployerType = "auto-deploy:index:AutoDeployer"
	benchWebhookType      = "auto-deploy:index:Webhook"
	// benchEngineParallel is the CLI's default --parallel on this machine.
	benchEngineParallel = 8
)

func BenchmarkProviderTree(b *testing.B) {
	for _, mode := range []string{benchAutoDeployer, benchWebhookPerEdge} {
		for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/tree-301/%dms", mode, latency.Milliseconds()), func(b *testing.B) {
				var requests, conns int64
				for range b.N { // not b.Loop: the setup of each lifecycle stops the timer
					r, c := benchProviderLifecycle(b, mode, 301, 3, latency)
					requests += r
					conns += c
				}
				b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
				b.ReportMetric(float64(conns)/float64(b.N), "conns/op")
			})
		}
	}
}

// BenchmarkProviderNew is what the plugin does before it can answer the engine.
func BenchmarkProviderNew(b *testing.B) {
	for b.Loop() {
		if _, err := provider.New(provider.NewCloudClient); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetSchema: the YAML language host asks for the schema on every command.
func BenchmarkGetSchema(b *testing.B) {
	prov, err := provider.New(provider.NewCloudClient)
	if err != nil {
		b.Fatal(err)
	}
	server, err := integration.NewServer(b.Context(), provider.Name, semver.MustParse("0.1.0"),
		integration.WithProvider(prov))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := server.GetSchema(p.GetSchemaRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPluginStart times the built plugin from exec to its port announcement.
func BenchmarkPluginStart(b *testing.B) {
	bin := os.Getenv("AUTO_DEPLOY_BIN")
	if bin == "" {
		b.Skip("AUTO_DEPLOY_BIN is not set")
	}
	for b.Loop() {
		cmd := exec.Command(filepath.Join(bin, "pulumi-resource-auto-deploy"))
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// benchProviderLifecycle runs create, no-op, refresh and destroy of the tree through one
// provider, the engine's parallelism and dependency order imitated: a resource starts
// once the resources it refers to are done, at most benchEngineParallel at a time. It returns
// the API requests made and the TCP connections opened.
func benchProviderLifecycle(b *testing.B, mode string, n, fanout int, latency time.Duration) (int64, int64) {
	b.Helper()
	b.StopTimer()
	var conns atomic.Int64
	c := e2e.StartCloud(b, emulatortest.WithHTTPServer(func(hs *http.Server) {
		hs.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				conns.Add(1)
			}
		}
	}))
	srv := c.Server
	var stacks []string
	for i := range n {
		stacks = append(stacks, fmt.Sprintf("s%d", i))
	}
	c.SeedDeployable(b, "org", "tree", stacks...)
	srv.SetFaults(emulator.Faults{Latency: latency})
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	prov, err := provider.New(provider.NewCloudClient)
	if err != nil {
		b.Fatal(err)
	}
	server, err := integration.NewServer(ctx, provider.Name, semver.MustParse("0.1.0"), integration.WithProvider(prov))
	if err != nil {
		b.Fatal(err)
	}
	if err := server.Configure(p.ConfigureRequest{Args: property.NewMap(map[string]property.Value{
		"apiUrl": property.New(c.URL), "accessToken": property.New(e2e.TestToken),
	})}); err != nil {
		b.Fatal(err)
	}
	srv.ResetStats()
	b.StartTimer()

	// The resources, each with the indexes of those it waits for on create.
	type res struct {
		urn    resource.URN
		inputs property.Map
		deps   []int
		id     string
		state  property.Map
	}
	var all []*res
	if mode == benchAutoDeployer {
		for i := range n {
			var refs []property.Value
			var deps []int
			for child := fanout*i + 1; child <= fanout*i+fanout && child < n; child++ {
				refs = append(refs, property.New(fmt.Sprintf("tree/s%d", child)))
				deps = append(deps, child)
			}
			all = append(all, &res{
				urn: resource.NewURN("bench", "tree", "", benchAutoDeployerType, fmt.Sprintf("s%d", i)),
				inputs: property.NewMap(map[string]property.Value{
					"organization": property.New("org"), "project": property.New("tree"),
					"stack": property.New(fmt.Sprintf("s%d", i)), "downstreamRefs": property.New(refs),
				}),
				deps: deps,
			})
		}
	} else {
		for _, e := range e2e.TreeEdges(n, fanout) {
			all = append(all, &res{
				urn: resource.NewURN("bench", "tree", "", benchWebhookType, fmt.Sprintf("deploy-s%d-s%d", e[0], e[1])),
				inputs: property.NewMap(map[string]property.Value{
					"organizationName": property.New("org"), "projectName": property.New("tree"),
					"stackName": property.New(fmt.Sprintf("s%d", e[0])), "format": property.New("pulumi_deployments"),
					"payloadUrl": property.New(fmt.Sprintf("tree/s%d", e[1])), "active": property.New(true),
					"displayName": property.New(fmt.Sprintf("deploy s%d after s%d", e[1], e[0])),
					"filters":     property.New([]property.Value{property.New("update_succeeded")}),
				}),
			})
		}
	}

	// schedule runs fn over all, each once its deps (or, reversed, its dependents) are done.
	schedule := func(reverse bool, fn func(r *res)) {
		waits := make([]int, len(all))
		next := make([][]int, len(all))
		for i, r := range all {
			for _, d := range r.deps {
				if reverse {
					waits[d]++
					next[i] = append(next[i], d)
				} else {
					waits[i]++
					next[d] = append(next[d], i)
				}
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		slots := make(chan struct{}, benchEngineParallel)
		var start func(i int)
		start = func(i int) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slots <- struct{}{}
				fn(all[i])
				<-slots
				mu.Lock()
				var ready []int
				for _, j := range next[i] {
					if waits[j]--; waits[j] == 0 {
						ready = append(ready, j)
					}
				}
				mu.Unlock()
				for _, j := range ready {
					start(j)
				}
			}()
		}
		for i := range all {
			if waits[i] == 0 {
				start(i)
			}
		}
		wg.Wait()
	}
	must := func(what string, err error) {
		if err != nil {
			b.Error(what, err)
		}
	}

	// create
	schedule(false, func(r *res) {
		check, err := server.Check(p.CheckRequest{Urn: r.urn, Inputs: r.inputs})
		must("check", err)
		if len(check.Failures) > 0 {
			b.Errorf("check %s: %v", r.urn, check.Failures)
		}
		r.inputs = check.Inputs
		created, err := server.Create(p.CreateRequest{Urn: r.urn, Properties: r.inputs})
		must("create", err)
		r.id, r.state = created.ID, created.Properties
	})
	// no-op up
	schedule(false, func(r *res) {
		check, err := server.Check(p.CheckRequest{Urn: r.urn, State: r.inputs, Inputs: r.inputs})
		must("check", err)
		diff, err := server.Diff(p.DiffRequest{ID: r.id, Urn: r.urn, State: r.state, Inputs: check.Inputs,
			OldInputs: r.inputs})
		must("diff", err)
		if diff.HasChanges {
			b.Errorf("no-op diff of %s has changes: %v", r.urn, diff.DetailedDiff)
		}
	})
	// refresh
	schedule(false, func(r *res) {
		read, err := server.Read(p.ReadRequest{ID: r.id, Urn: r.urn, Properties: r.state, Inputs: r.inputs})
		must("read", err)
		r.state = read.Properties
	})
	// destroy
	schedule(true, func(r *res) {
		must("delete", server.Delete(p.DeleteRequest{ID: r.id, Urn: r.urn, Properties: r.state, OldInputs: r.inputs}))
	})
	b.StopTimer()
	if hooks := withoutMarks(srv.Webhooks()); len(hooks) > 0 {
		b.Fatalf("%d webhooks left after destroy", len(hooks))
	}
	return int64(srv.Stats().Total), conns.Load()
}
