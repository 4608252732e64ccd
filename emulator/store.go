package emulator

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// store is the emulator's state: stacks, environments, webhooks, deployments and deliveries, and the
// cascade that ties them together, all guarded by one mutex.
//
// Its methods with exported names are its API. Each takes the lock, does its whole job under it (a
// cascade included) and returns copies, so a caller can keep what it gets and nothing outside the store
// ever touches a stored record. The API handlers, the admin handlers and Server's in-process accessors
// all go through these methods. Methods with lower-case names are helpers that expect the lock to be
// held already; those that look something up end in Locked.
//
// Errors are *Error values with the HTTP status the API answers with, so a handler can pass them on as
// they are.
type store struct {
	now func() time.Time
	// maxCascade caps the deployments one event may start.
	maxCascade int
	// sealer encrypts secret outputs; outbox sends deliveries over HTTP (delivery_http.go) and has a lock
	// of its own, which may be taken under mu but never the other way round; changes wakes those who
	// wait for the store to change (wait.go).
	sealer  *sealer
	outbox  *outbox
	changes *signal

	mu          sync.Mutex
	stacks      map[string]*stack       // by resourceKey
	envs        map[string]*environment // by resourceKey
	hooks       map[string]*hookSet     // by Scope.Path()
	deployments []Deployment
	deliveries  []delivery
	// updates are the person's updates (store_updates.go), oldest first.
	updates []*personUpdate
	// mode is how deployments run, defaultDuration how long a timed one takes unless its stack says
	// otherwise, and timers end the timed ones that run, by index in deployments (store_timed.go).
	mode            string
	defaultDuration time.Duration
	// concurrency caps the deployments running at once per organization, 0 for no cap.
	concurrency int
	timers      map[int]timerEntry
	timerGen    uint64
	// closed is set by Server.Close: no timer is armed after it.
	closed bool
	// seq numbers stacks, webhooks, deliveries and deployments alike, so runs are reproducible;
	// updateSeq numbers updates (store_updates.go).
	seq       int64
	updateSeq int64
	// order numbers the starts and ends of deployments (Deployment.StartOrder, EndOrder).
	order int64
}

func newStore(now func() time.Time, maxCascade int, deliveryTimeout time.Duration, mode DeploymentMode) *store {
	s := &store{
		now:             now,
		maxCascade:      maxCascade,
		sealer:          newSealer(),
		changes:         &signal{},
		stacks:          map[string]*stack{},
		envs:            map[string]*environment{},
		hooks:           map[string]*hookSet{},
		mode:            mode.Mode,
		defaultDuration: mode.Duration,
		concurrency:     mode.Concurrency,
		timers:          map[int]timerEntry{},
	}
	s.outbox = newOutbox(deliveryTimeout, func(job sendJob, res sendResult) { s.completeDelivery(job, res) })
	return s
}

// resourceKey keys stacks and environments, which are both named org/project/name.
func resourceKey(org, project, name string) string { return org + "/" + project + "/" + name }

// nextSeq advances the store's counter. Callers hold s.mu.
func (s *store) nextSeq() int64 {
	s.seq++
	return s.seq
}

// newID returns a UUID-shaped id made from the counter. Callers hold s.mu.
func (s *store) newID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", s.nextSeq())
}

// stackLocked finds a stack, or answers 404. Callers hold s.mu.
func (s *store) stackLocked(org, project, name string) (*stack, error) {
	st := s.stacks[resourceKey(org, project, name)]
	if st == nil {
		return nil, errorf(http.StatusNotFound, "Stack '%s/%s/%s' not found", org, project, name)
	}
	return st, nil
}

// environmentLocked finds an environment, or answers 404. Callers hold s.mu.
func (s *store) environmentLocked(org, project, name string) (*environment, error) {
	env := s.envs[resourceKey(org, project, name)]
	if env == nil {
		return nil, errorf(http.StatusNotFound, "Environment '%s/%s/%s' not found", org, project, name)
	}
	return env, nil
}

// SeedStack is one stack for Seed to create.
type SeedStack struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Stack   string `json:"stack"`
	// DeploymentSettings gives the stack default deployment settings, so pulumi_deployments webhooks can
	// target it.
	DeploymentSettings bool `json:"deploymentSettings"`
	// Tags are the stack's tags (name → value) when Seed creates it; an existing stack keeps its own.
	Tags map[string]string `json:"tags,omitempty"`
}

// SeedEnvironment is one environment for Seed to create.
type SeedEnvironment struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Env     string `json:"env"`
}

// SeedData is what Seed creates. Existing stacks and environments are kept as they are, except that a
// stack asked to have deployment settings gets the defaults when it has none.
type SeedData struct {
	Stacks       []SeedStack       `json:"stacks"`
	Environments []SeedEnvironment `json:"environments"`
}

// Seed creates stacks and environments in one step, under one lock. It stops at the first invalid name,
// keeping what it created before it.
func (s *store) Seed(data SeedData) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range data.Stacks {
		st := s.stacks[resourceKey(in.Org, in.Project, in.Stack)]
		if st == nil {
			var err error
			if st, err = s.addStack(in.Org, in.Project, in.Stack, in.Tags); err != nil {
				return err
			}
		}
		if in.DeploymentSettings && st.settings == nil {
			st.settings = defaultSettings(in.Project)
		}
	}
	for _, in := range data.Environments {
		if s.envs[resourceKey(in.Org, in.Project, in.Env)] == nil {
			if _, err := s.addEnvironment(in.Org, in.Project, in.Env); err != nil {
				return err
			}
		}
	}
	return nil
}
