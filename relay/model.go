package relay

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"
)

// org is what the relay knows of one organization, held in memory by the job that runs its schedule
// (the only writer of its rows) and written through to the database after each change.
type org struct {
	name  string
	epoch int64 // fences writes: a job that lost the organization to another can write nothing
	// baselined is false until the first look adopted the organization's current versions.
	baselined bool
	stacks    map[string]*stack
	// links are the relay edges by parent, then child.
	links map[string]map[string]*link
	// cascades are the running cascades, oldest first.
	cascades []*cascade

	dirtyStacks map[string]bool
	dirtyLinks  map[linkKey]bool
}

type linkKey struct{ parent, child string }

// stack is one stack of the organization, as stored in relay_stack.
type stack struct {
	ref string
	// version is the newest version whose update ended (0: unknown, or never updated).
	version int
	// lastUpdate is the stack list's lastUpdate (when its last update started, Unix seconds) as the
	// relay last accounted for it; a different one means an update started since.
	lastUpdate int64
	// readAt is when (Unix seconds) the relay last learnt what lastUpdate stands for: lastUpdate has a
	// resolution of a second, so an update that started in the second of that read, or after, may have
	// ended unseen, and the poll reads such a stack again. In memory only: loaded, it is taken to be the
	// second after lastUpdate, since lastUpdate is recorded only once what it stands for is read.
	readAt int64
	// edgesVersion is the version at which the stack's webhooks were last listed; -1 never.
	edgesVersion int
	// updating is set while someone else's update of the stack is in progress.
	updating bool
	deleted  bool
	// failed is set when the relay's last deployment of it failed and no update fixed it since.
	failed     bool
	estimateMS int64
	// flight is the relay's deployment of the stack that is asked for or running; nil for none.
	flight *flight
	// last is the relay's last deployment of the stack that ended.
	last *flight

	// In memory only: a read about the stack that failed, and when to try again (retry.go).
	trouble troubles
	// announced is the newest version a delivery announced, for telling updates the poll finds
	// without one.
	announced int
	// skipReason is why it was last found not to need a deployment, for the cascades' rows.
	skipReason string
	// changedAt is when the relay learnt that its version moved by someone else's update (--settle).
	changedAt time.Time
	// unannounced is a version the poll found before any delivery announced it, and when.
	unannounced   int
	unannouncedAt time.Time
}

// flight is one deployment of a stack by the relay: intended (ID empty: recorded before it was
// asked for), running, or ended.
type flight struct {
	// Row is its relay_deployment id.
	Row int64 `json:"row"`
	// ID is the deployment's id in Pulumi Cloud, empty while it is only intended, and ConsoleURL its page
	// in the Pulumi Cloud console.
	ID         string `json:"id,omitempty"`
	ConsoleURL string `json:"consoleUrl,omitempty"`
	// Prior is the stack's newest deployment number before the relay asked: the one it asked for is
	// the next update deployment after it.
	Prior int `json:"prior"`
	// Covers is every parent's version the deployment deploys against.
	Covers map[string]int `json:"covers"`
	Reason string         `json:"reason"`
	// IntentMS, StartedMS and EndedMS are when it was intended, answered and seen ended (Unix ms).
	IntentMS  int64 `json:"intentMs"`
	StartedMS int64 `json:"startedMs,omitempty"`
	EndedMS   int64 `json:"endedMs,omitempty"`
	// Outcome is succeeded, failed or cancelled once it ended, with Why in words.
	Outcome string `json:"outcome,omitempty"`
	Why     string `json:"why,omitempty"`
	// Version is the stack's version it ended at.
	Version int `json:"version,omitempty"`
}

// link is one relay edge, as stored in relay_edge.
type link struct {
	parent, child string
	// recorded is the parent's version the child last deployed against, or was found not to need a
	// deployment for; 0 for an edge it never did either over.
	recorded int
	always   bool
	// live is false once the edge's webhook is gone; the row stays for its record.
	live bool
}

func newOrg(name string) *org {
	return &org{name: name, stacks: map[string]*stack{}, links: map[string]map[string]*link{},
		dirtyStacks: map[string]bool{}, dirtyLinks: map[linkKey]bool{}}
}

// stackOf returns the stack ref, adding it when it is new.
func (o *org) stackOf(ref string) *stack {
	s := o.stacks[ref]
	if s == nil {
		s = &stack{ref: ref, edgesVersion: -1}
		o.stacks[ref] = s
		o.dirtyStacks[ref] = true
	}
	return s
}

func (o *org) touch(s *stack) { o.dirtyStacks[s.ref] = true }

func (o *org) touchLink(l *link) { o.dirtyLinks[linkKey{l.parent, l.child}] = true }

// kids are the live links out of ref, in the children's name order.
func (o *org) kids(ref string) []*link {
	var out []*link
	for _, child := range slices.Sorted(maps.Keys(o.links[ref])) {
		if l := o.links[ref][child]; l.live {
			out = append(out, l)
		}
	}
	return out
}

// addLink records a link, as loaded or new.
func (o *org) addLink(l *link) {
	if o.links[l.parent] == nil {
		o.links[l.parent] = map[string]*link{}
	}
	o.links[l.parent][l.child] = l
}

// setEdges makes the live links out of ref exactly targets (child → alwaysDeploy). A new link's record
// is 0 (never deployed over) unless adopt is set, when it takes the parent's version: the baseline
// adopts what is as already deployed.
func (o *org) setEdges(ref string, targets map[string]bool, adopt bool) (added, removed []string) {
	parent := o.stackOf(ref)
	for _, child := range slices.Sorted(maps.Keys(o.links[ref])) {
		l := o.links[ref][child]
		always, keep := targets[child]
		switch {
		case keep && (!l.live || l.always != always):
			if !l.live {
				added = append(added, child)
			}
			l.live, l.always = true, always
			o.touchLink(l)
		case !keep && l.live:
			l.live = false
			removed = append(removed, child)
			o.touchLink(l)
		}
	}
	for _, child := range slices.Sorted(maps.Keys(targets)) {
		if o.links[ref][child] != nil {
			continue
		}
		l := &link{parent: ref, child: child, always: targets[child], live: true}
		if adopt {
			l.recorded = parent.version
		}
		o.addLink(l)
		o.touchLink(l)
		o.stackOf(child)
		added = append(added, child)
	}
	return added, removed
}

// world is what Schedule needs: the stacks that are part of the graph and not deleted, and the live
// links between them.
func (o *org) world(now time.Time, defaultEstimate float64) World {
	w := World{Stacks: map[string]StackFacts{}}
	for _, byChild := range o.links {
		for _, l := range byChild {
			if !l.live {
				continue
			}
			p, c := o.stacks[l.parent], o.stacks[l.child]
			if p == nil || c == nil || p.deleted || c.deleted {
				continue
			}
			w.Links = append(w.Links, Link{Parent: l.parent, Child: l.child, Recorded: l.recorded, AlwaysDeploy: l.always})
			for _, s := range []*stack{p, c} {
				if _, ok := w.Stacks[s.ref]; !ok {
					w.Stacks[s.ref] = s.facts(now, defaultEstimate)
				}
			}
		}
	}
	slices.SortFunc(w.Links, func(a, b Link) int {
		return cmp.Or(strings.Compare(a.Parent, b.Parent), strings.Compare(a.Child, b.Child))
	})
	return w
}

func (s *stack) facts(now time.Time, defaultEstimate float64) StackFacts {
	est := float64(s.estimateMS) / 1000
	if s.estimateMS <= 0 {
		est = defaultEstimate
	}
	return StackFacts{Version: s.version, Deploying: s.flight != nil, Updating: s.updating, Failed: s.failed,
		Unsure: s.trouble.holds(now), Estimate: est}
}

// defaultEstimate is the estimate of a stack the relay never timed: the median of those it did, or one
// second when it timed none.
func (o *org) defaultEstimate() float64 {
	var known []int64
	for _, s := range o.stacks {
		if s.estimateMS > 0 {
			known = append(known, s.estimateMS)
		}
	}
	if len(known) == 0 {
		return 1
	}
	slices.Sort(known)
	return float64(known[len(known)/2]) / 1000
}

// inFlight counts the relay's deployments asked for or running.
func (o *org) inFlight() int {
	n := 0
	for _, s := range o.stacks {
		if s.flight != nil {
			n++
		}
	}
	return n
}

// descendants lists the stacks below ref through live links, each once, parents before children (the
// stacks on or below a cycle last), with the parents each has among them (ref included).
func (o *org) descendants(ref string) (order []string, parents map[string][]string) {
	parents = map[string][]string{}
	below := map[string]bool{}
	queue := []string{ref}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		for _, l := range o.kids(at) {
			c := o.stacks[l.child]
			if c == nil || c.deleted || l.child == ref {
				continue
			}
			parents[l.child] = append(parents[l.child], at)
			if !below[l.child] {
				below[l.child] = true
				queue = append(queue, l.child)
			}
		}
	}
	// Kahn's algorithm over what is below, breadth first from ref.
	waiting := map[string]int{}
	for s := range below {
		for _, p := range parents[s] {
			if p != ref {
				waiting[s]++
			}
		}
	}
	placed := map[string]bool{}
	queue = []string{ref}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		for _, l := range o.kids(at) {
			if !below[l.child] || placed[l.child] {
				continue
			}
			if at != ref {
				waiting[l.child]--
			}
			if waiting[l.child] == 0 {
				placed[l.child] = true
				order = append(order, l.child)
				queue = append(queue, l.child)
			}
		}
	}
	for _, s := range slices.Sorted(maps.Keys(below)) {
		if !placed[s] {
			order = append(order, s)
		}
	}
	return order, parents
}
