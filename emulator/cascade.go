package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// notSentBody is the recorded answer of deliveries to URLs: the emulator never calls out, so tests stay
// hermetic and a stray payloadUrl cannot reach a real service.
const notSentBody = "emulator: not sent; the emulator makes no network calls"

// delivery is a Delivery tied to the hook that made it.
type delivery struct {
	Delivery
	hookID int64
}

// event is something that happened to a stack or an environment, with the payload webhooks receive.
type event struct {
	kind    string
	subject Scope
	payload []byte
}

type eventPayload struct {
	Event        string             `json:"event"`
	Organization string             `json:"organization"`
	ProjectName  string             `json:"projectName,omitempty"`
	StackName    string             `json:"stackName,omitempty"`
	EnvName      string             `json:"envName,omitempty"`
	Version      int                `json:"version,omitempty"`
	Deployment   *deploymentPayload `json:"deployment,omitempty"`
	Timestamp    int64              `json:"timestamp"`
}

type deploymentPayload struct {
	ID        string `json:"id"`
	Version   int    `json:"version"`
	Operation string `json:"operation"`
	Status    string `json:"status"`
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("emulator: encoding payload: %v", err))
	}
	return data
}

func (s *store) stackEvent(kind string, st *stack) event {
	return s.stackEventWith(kind, st, nil)
}

func (s *store) stackEventWith(kind string, st *stack, dep *deploymentPayload) event {
	p := eventPayload{Event: kind, Organization: st.org, ProjectName: st.project, StackName: st.name,
		Version: st.version, Deployment: dep, Timestamp: s.now().Unix()}
	return event{kind: kind, subject: st.subject(), payload: mustJSON(p)}
}

func (s *store) envEvent(kind string, env *environment) event {
	p := eventPayload{Event: kind, Organization: env.org, ProjectName: env.project, EnvName: env.name,
		Timestamp: s.now().Unix()}
	return event{kind: kind, subject: env.subject(), payload: mustJSON(p)}
}

func (s *store) deploymentEvent(kind string, st *stack, d Deployment) event {
	return s.stackEventWith(kind, st, &deploymentPayload{ID: d.ID, Version: d.Version, Operation: d.Operation, Status: d.Status})
}

func pingPayload(h *hook, now time.Time) []byte {
	return mustJSON(map[string]any{
		"event": "ping", "organization": h.scope.Org, "webhook": h.name,
		"message": "Just testing: the webhook is reachable.", "timestamp": now.Unix(),
	})
}

// cascade delivers events breadth first: every webhook of one event before the events of the deployments
// it started, so the order of deployments is the order of the dependency tree's levels. It runs under
// the store's lock, which makes a whole cascade atomic to every other request.
type cascade struct {
	s     *store
	queue []event
	res   CascadeResult
}

func (s *store) newCascade() *cascade {
	return &cascade{s: s, res: CascadeResult{Deployments: []Deployment{}, FailedDeliveries: []Delivery{}}}
}

func (c *cascade) run() CascadeResult {
	for len(c.queue) > 0 && !c.res.Truncated {
		ev := c.queue[0]
		c.queue = c.queue[1:]
		for _, h := range c.s.subscribersLocked(ev) {
			c.deliver(h, ev.kind, ev.payload, "")
			if c.res.Truncated {
				break
			}
		}
	}
	return c.res
}

// subscribersLocked lists the active webhooks that want ev: those of its stack or environment, then
// those of its organization, each in creation order.
func (s *store) subscribersLocked(ev event) []*hook {
	var out []*hook
	scopes := []string{ev.subject.Path(), Scope{Type: ScopeOrganization, Org: ev.subject.Org}.Path()}
	for _, p := range scopes {
		hs := s.hooks[p]
		if hs == nil {
			continue
		}
		for _, h := range hs.list {
			if h.active && h.wants(ev.kind) {
				out = append(out, h)
			}
		}
	}
	return out
}

// wants reports whether the hook's filters or groups select the event; with neither, every event does.
func (h *hook) wants(kind string) bool {
	if len(h.filters) == 0 && len(h.groups) == 0 {
		return true
	}
	return slices.Contains(h.filters, kind) || slices.Contains(h.groups, eventGroups[kind])
}

// deliver records one delivery of a payload to h. A pulumi_deployments hook starts a deployment of its
// target, whose own events join the queue; other formats only record what would have been sent.
func (c *cascade) deliver(h *hook, kind string, payload []byte, redeliveryOf string) Delivery {
	s := c.s
	if h.format != FormatPulumiDeployments {
		return s.recordDelivery(h, kind, payload, redeliveryOf, func(d *Delivery) {
			d.ResponseCode = http.StatusOK
			d.ResponseBody = notSentBody
		})
	}
	project, name, _ := strings.Cut(h.payloadURL, "/")
	st := s.stacks[resourceKey(h.scope.Org, project, name)]
	if st != nil && st.settings != nil && len(c.res.Deployments) >= s.maxCascade {
		c.res.Truncated = true
		return Delivery{}
	}
	d := s.recordDelivery(h, kind, payload, redeliveryOf, func(d *Delivery) {
		d.ResponseHeaders = "Content-Type: application/json"
		switch {
		case st == nil:
			d.ResponseCode = http.StatusNotFound
			d.ResponseBody = string(mustJSON(errorf(http.StatusNotFound,
				"Stack '%s/%s/%s' not found", h.scope.Org, project, name)))
		case st.settings == nil:
			d.ResponseCode = http.StatusBadRequest
			d.ResponseBody = string(mustJSON(errorf(http.StatusBadRequest,
				"Stack '%s/%s/%s' has no deployment settings", st.org, st.project, st.name)))
		default:
			dep := c.startDeployment(st, "update", Cause{Kind: CauseWebhook, Webhook: h.ref(), Event: kind, DeliveryID: d.ID},
				copyJSON(st.settings))
			d.DeploymentID = dep.ID
			d.ResponseCode = http.StatusAccepted
			d.ResponseBody = string(mustJSON(map[string]any{"id": dep.ID, "consoleUrl": consoleURL(dep), "version": dep.Version}))
		}
	})
	if d.Failed() {
		c.res.FailedDeliveries = append(c.res.FailedDeliveries, d)
	}
	return d
}

// recordDelivery stores a delivery whose response fill sets. The delivery has its id before fill runs, so
// a deployment it starts can name it as the cause. Callers hold s.mu.
func (s *store) recordDelivery(h *hook, kind string, payload []byte, redeliveryOf string, fill func(*Delivery)) Delivery {
	d := Delivery{
		DeliveryRecord: DeliveryRecord{
			ID:         s.newID(),
			Kind:       kind,
			Payload:    string(payload),
			Timestamp:  s.now().Unix(),
			RequestURL: h.payloadURL,
		},
		Webhook:      h.ref(),
		RedeliveryOf: redeliveryOf,
	}
	headers := map[string]string{
		"Content-Type":        "application/json",
		"User-Agent":          "pulumi-cloud-emulator",
		"Pulumi-Webhook-Id":   d.ID,
		"Pulumi-Webhook-Kind": kind,
	}
	if h.secret != "" {
		headers["Pulumi-Webhook-Signature"] = Sign(h.secret, payload)
	}
	d.RequestHeaders = formatHeaders(headers)
	fill(&d)
	s.deliveries = append(s.deliveries, delivery{Delivery: d, hookID: h.id})
	return d
}

// Sign returns the Pulumi-Webhook-Signature of a payload: the hex HMAC-SHA256 keyed with the secret.
func Sign(secret string, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))
}

func formatHeaders(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + ": " + h[k]
	}
	return strings.Join(lines, "\n")
}

// startDeployment creates a deployment of st with the given configuration. By default it runs to
// success on the spot and queues the events it raises. With manual deployments it waits, not-started,
// at the end of the stack's queue, for a step to start it (store_deployments.go). Callers hold s.mu.
func (c *cascade) startDeployment(st *stack, op string, cause Cause, config map[string]any) Deployment {
	s := c.s
	st.deployments++
	now := s.now()
	i := len(s.deployments)
	s.deployments = append(s.deployments, Deployment{
		ID: s.newID(), Org: st.org, Project: st.project, Stack: st.name, Operation: op,
		Status: StatusNotStarted, Version: st.deployments, Created: now, Modified: now, Cause: cause,
		configuration: config,
	})
	if s.manualDeployments {
		st.waiting = append(st.waiting, i)
	} else {
		s.beginDeploymentLocked(st, i, now)
		c.finishDeployment(st, i)
	}
	d := s.deployments[i]
	if cause.Kind == CauseWebhook {
		c.res.Deployments = append(c.res.Deployments, d)
	}
	return d
}

// finishDeployment ends st's running deployment, the one at index i, with success: an operation that
// changes the stack writes a new stack version, and the deployment's events join the queue.
func (c *cascade) finishDeployment(st *stack, i int) {
	s := c.s
	now := s.now()
	op := s.deployments[i].Operation
	if operationChangesStack[op] {
		st.version++
		st.lastUpdate = now
	}
	d := &s.deployments[i]
	d.Status = StatusSucceeded
	d.Modified, d.Finished = now, now
	d.StackVersion = st.version
	st.running = -1
	c.queue = append(c.queue, s.deploymentEvent("deployment_succeeded", st, *d), s.deploymentEvent(operationEvents[op], st, *d))
}

// beginDeploymentLocked makes the deployment at index i st's running one. Callers hold s.mu.
func (s *store) beginDeploymentLocked(st *stack, i int, now time.Time) {
	d := &s.deployments[i]
	d.Status = StatusRunning
	d.Started, d.Modified = now, now
	st.running = i
}

// FireUpdate records a successful update of the stack, as `pulumi up` would, and runs the cascade of
// deployments its update_succeeded event sets off before returning.
func (s *store) FireUpdate(org, project, name string) (CascadeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return CascadeResult{}, err
	}
	st.version++
	st.lastUpdate = s.now()
	c := s.newCascade()
	c.queue = append(c.queue, s.stackEvent("update_succeeded", st))
	return c.run(), nil
}

// FireEnvironmentRevision records a new revision of the environment and runs the cascade its
// environment_revision_created event sets off, which is how environment webhooks redeploy stacks.
func (s *store) FireEnvironmentRevision(org, project, name string) (CascadeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.environmentLocked(org, project, name)
	if err != nil {
		return CascadeResult{}, err
	}
	c := s.newCascade()
	c.queue = append(c.queue, s.envEvent("environment_revision_created", env))
	return c.run(), nil
}
