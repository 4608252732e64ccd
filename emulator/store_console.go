package emulator

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// consoleMaxRows caps the deployments and failed deliveries the console's data carries: a webhook cycle
// makes a thousand deployments per update, more than a page can show or should poll every second.
const consoleMaxRows = 500

// Node kinds of the console's deployment graph.
const (
	nodeStack       = "stack"
	nodeEnvironment = "environment"
	// nodeMissing is a stack that a webhook names but that does not exist.
	nodeMissing = "missing"
)

// Why an edge of the deployment graph leads nowhere: its deliveries fail with 404 or 400.
const (
	danglingMissing    = "missing"
	danglingNoSettings = "no-settings"
)

// consoleView is everything the console page shows. The store builds it under one lock, so a cascade
// is either wholly in it or not at all.
type consoleView struct {
	Mode                  modeWire          `json:"mode"`
	Stacks                []consoleStack    `json:"stacks"`
	Graph                 consoleGraph      `json:"graph"`
	Deployments           []Deployment      `json:"deployments"`
	DeploymentsTotal      int               `json:"deploymentsTotal"`
	FailedDeliveries      []consoleDelivery `json:"failedDeliveries"`
	FailedDeliveriesTotal int               `json:"failedDeliveriesTotal"`
}

type consoleStack struct {
	ID                 string    `json:"id"`
	Org                string    `json:"org"`
	Project            string    `json:"project"`
	Stack              string    `json:"stack"`
	Version            int       `json:"version"`
	DeploymentSettings bool      `json:"deploymentSettings"`
	Deployments        int       `json:"deployments"`
	LastUpdate         time.Time `json:"lastUpdate,omitzero"`
}

// consoleGraph is the deployment graph: stacks (and environments) as nodes, and one edge per
// pulumi_deployments webhook, from the stack or environment it belongs to towards the stack it deploys.
type consoleGraph struct {
	Nodes []graphNode `json:"nodes"`
	Edges []graphEdge `json:"edges"`
}

type graphNode struct {
	// ID is org/project/stack for stacks, env:org/project/env for environments.
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Org     string `json:"org"`
	Project string `json:"project"`
	Name    string `json:"name"`
	// DeploymentSettings tells whether a stack can be deployed by a webhook.
	DeploymentSettings bool `json:"deploymentSettings"`
}

type graphEdge struct {
	From        string     `json:"from"`
	To          string     `json:"to"`
	Webhook     WebhookRef `json:"webhook"`
	DisplayName string     `json:"displayName"`
	Active      bool       `json:"active"`
	Filters     []string   `json:"filters"`
	Groups      []string   `json:"groups"`
	// Dangling is "missing" when the target stack does not exist and "no-settings" when it has no
	// deployment settings; either way a delivery deploys nothing. Empty for an edge that works.
	Dangling string `json:"dangling,omitempty"`
}

// consoleDelivery is the part of a failed delivery the console shows.
type consoleDelivery struct {
	ID      string     `json:"id"`
	Time    time.Time  `json:"time"`
	Webhook WebhookRef `json:"webhook"`
	// Kind is the event as filters name it (Delivery.Event), which says more than the service's kind.
	Kind         string `json:"kind"`
	RequestURL   string `json:"requestUrl"`
	ResponseCode int    `json:"responseCode"`
	ResponseBody string `json:"responseBody"`
	RedeliveryOf string `json:"redeliveryOf,omitempty"`
}

func environmentNodeID(org, project, name string) string {
	return "env:" + resourceKey(org, project, name)
}

// ConsoleView returns a copy of what the console shows: every stack, the deployment graph, and the
// latest deployments and failed deliveries, oldest first.
func (s *store) ConsoleView() consoleView {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := consoleView{Stacks: []consoleStack{}, Graph: consoleGraph{Nodes: []graphNode{}, Edges: []graphEdge{}},
		Mode: toModeWire(DeploymentMode{Mode: s.mode, Duration: s.defaultDuration, Concurrency: s.concurrency})}

	stacks := make([]*stack, 0, len(s.stacks))
	for _, st := range s.stacks {
		stacks = append(stacks, st)
	}
	slices.SortFunc(stacks, func(a, b *stack) int { return compareStackCursors(a.cursor(), b.cursor()) })
	for _, st := range stacks {
		id := resourceKey(st.org, st.project, st.name)
		v.Stacks = append(v.Stacks, consoleStack{ID: id, Org: st.org, Project: st.project, Stack: st.name,
			Version: st.version, DeploymentSettings: st.settings != nil, Deployments: st.deployments,
			LastUpdate: st.lastUpdate})
		v.Graph.Nodes = append(v.Graph.Nodes, graphNode{ID: id, Kind: nodeStack, Org: st.org, Project: st.project,
			Name: st.name, DeploymentSettings: st.settings != nil})
	}

	// Edges in a stable order: by the scope they belong to, then by creation.
	paths := make([]string, 0, len(s.hooks))
	for p := range s.hooks {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	extra := map[string]graphNode{} // environments and missing stacks the edges name
	for _, p := range paths {
		for _, h := range s.hooks[p].list {
			if h.format != FormatPulumiDeployments {
				continue
			}
			from := resourceKey(h.scope.Org, h.scope.Project, h.scope.Stack)
			if h.scope.Type == ScopeEnvironment {
				from = environmentNodeID(h.scope.Org, h.scope.Project, h.scope.Env)
				extra[from] = graphNode{ID: from, Kind: nodeEnvironment, Org: h.scope.Org, Project: h.scope.Project,
					Name: h.scope.Env}
			}
			project, name, _ := strings.Cut(h.payloadURL, "/")
			to := resourceKey(h.scope.Org, project, name)
			e := graphEdge{From: from, To: to, Webhook: h.ref(), DisplayName: h.displayName, Active: h.active,
				Filters: nonNil(slices.Clone(h.filters)), Groups: nonNil(slices.Clone(h.groups))}
			switch target := s.stacks[to]; {
			case target == nil:
				e.Dangling = danglingMissing
				extra[to] = graphNode{ID: to, Kind: nodeMissing, Org: h.scope.Org, Project: project, Name: name}
			case target.settings == nil:
				e.Dangling = danglingNoSettings
			}
			v.Graph.Edges = append(v.Graph.Edges, e)
		}
	}
	more := make([]graphNode, 0, len(extra))
	for _, n := range extra {
		more = append(more, n)
	}
	// Environments before missing stacks, each by id.
	slices.SortFunc(more, func(a, b graphNode) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID)) })
	v.Graph.Nodes = append(v.Graph.Nodes, more...)

	v.DeploymentsTotal = len(s.deployments)
	v.Deployments = nonNil(slices.Clone(s.deployments[max(0, len(s.deployments)-consoleMaxRows):]))
	failed := []consoleDelivery{}
	for _, d := range s.deliveries {
		if d.Failed() {
			failed = append(failed, consoleDelivery{ID: d.ID, Time: time.Unix(d.Timestamp, 0).UTC(), Webhook: d.Webhook,
				Kind: d.Event, RequestURL: d.RequestURL, ResponseCode: d.ResponseCode, ResponseBody: d.ResponseBody,
				RedeliveryOf: d.RedeliveryOf})
		}
	}
	v.FailedDeliveriesTotal = len(failed)
	v.FailedDeliveries = slices.Clone(failed[max(0, len(failed)-consoleMaxRows):])
	return v
}
