package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"sort"
	"time"
)

// hook is a stored webhook. id is unique for the store's lifetime, so deliveries of a deleted webhook
// never show up under a new one that reuses its name. The store hands out Webhook values made by export.
type hook struct {
	id          int64
	scope       Scope
	name        string
	displayName string
	payloadURL  string
	active      bool
	format      string
	filters     []string
	groups      []string
	secret      string
	created     time.Time
}

// hookSet holds one scope's webhooks in creation order.
type hookSet struct {
	scope Scope
	list  []*hook
}

func (hs *hookSet) find(name string) *hook {
	for _, h := range hs.list {
		if h.name == name {
			return h
		}
	}
	return nil
}

func (h *hook) export() Webhook {
	return Webhook{
		Scope:       h.scope,
		Name:        h.name,
		DisplayName: h.displayName,
		PayloadURL:  h.payloadURL,
		Active:      h.active,
		Format:      h.format,
		Filters:     slices.Clone(h.filters),
		Groups:      slices.Clone(h.groups),
		HasSecret:   h.secret != "",
		Secret:      h.secret,
		Created:     h.created,
	}
}

func (h *hook) ref() WebhookRef { return WebhookRef{Scope: h.scope, Name: h.name} }

// hooksLocked returns the scope's webhooks, or 404 when its stack or environment does not exist.
// Organizations always exist: the emulator serves any organization name. A scope without webhooks gets
// an empty set that is not stored. Callers hold s.mu.
func (s *store) hooksLocked(sc Scope) (*hookSet, error) {
	switch sc.Type {
	case ScopeStack:
		if _, err := s.stackLocked(sc.Org, sc.Project, sc.Stack); err != nil {
			return nil, err
		}
	case ScopeEnvironment:
		if _, err := s.environmentLocked(sc.Org, sc.Project, sc.Env); err != nil {
			return nil, err
		}
	}
	if hs := s.hooks[sc.Path()]; hs != nil {
		return hs, nil
	}
	return &hookSet{scope: sc}, nil
}

// hookLocked finds one webhook, or answers 404 for an unknown scope or name. Callers hold s.mu.
func (s *store) hookLocked(sc Scope, name string) (*hookSet, *hook, error) {
	hs, err := s.hooksLocked(sc)
	if err != nil {
		return nil, nil, err
	}
	h := hs.find(name)
	if h == nil {
		return nil, nil, errorf(http.StatusNotFound, "Webhook %s not found", name)
	}
	return hs, h, nil
}

// CreateWebhook creates a webhook in the scope from the fields of a create request. A missing name is
// generated; a taken one answers 409.
func (s *store) CreateWebhook(sc Scope, req *webhookRequest) (Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, err := s.hooksLocked(sc)
	if err != nil {
		return Webhook{}, err
	}
	if err := checkScopeFields(sc, req, true); err != nil {
		return Webhook{}, err
	}
	h := &hook{scope: sc, format: FormatRaw, created: s.now()}
	if req.Name != nil && *req.Name != "" {
		if err := validateWebhookName(*req.Name); err != nil {
			return Webhook{}, err
		}
		h.name = *req.Name
	}
	if req.Active == nil {
		return Webhook{}, errorf(http.StatusBadRequest, "active is required: send true or false")
	}
	applyWebhookFields(h, req)
	if err := validateHook(h); err != nil {
		return Webhook{}, err
	}
	if h.name == "" {
		h.name = generateName(hs)
	} else if hs.find(h.name) != nil {
		return Webhook{}, errorf(http.StatusConflict, "Webhook with name %s already exists", h.name)
	}
	h.id = s.nextSeq()
	hs.list = append(hs.list, h)
	s.hooks[sc.Path()] = hs
	return h.export(), nil
}

// UpdateWebhook changes the fields present in an update request. The merged webhook is validated as a
// whole, and a refused update changes nothing.
func (s *store) UpdateWebhook(sc Scope, name string, req *webhookRequest) (Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, h, err := s.hookLocked(sc, name)
	if err != nil {
		return Webhook{}, err
	}
	if err := checkScopeFields(sc, req, false); err != nil {
		return Webhook{}, err
	}
	// Renaming is not an update: the name is the webhook's identity within its scope.
	if req.Name != nil && *req.Name != "" && *req.Name != name {
		return Webhook{}, errorf(http.StatusBadRequest, "name %q does not match %q in the URL", *req.Name, name)
	}
	updated := *h
	applyWebhookFields(&updated, req)
	if err := validateHook(&updated); err != nil {
		return Webhook{}, err
	}
	*h = updated
	return h.export(), nil
}

// applyWebhookFields copies the keys present in req onto h. An absent key keeps the stored value; on
// create that is the default. An empty secret clears the secret, and an empty format means raw.
func applyWebhookFields(h *hook, req *webhookRequest) {
	if req.DisplayName != nil {
		h.displayName = *req.DisplayName
	}
	if req.PayloadURL != nil {
		h.payloadURL = *req.PayloadURL
	}
	if req.Active != nil {
		h.active = *req.Active
	}
	if req.Format != nil {
		h.format = *req.Format
		if h.format == "" {
			h.format = FormatRaw
		}
	}
	if req.Filters != nil {
		h.filters = normalizeSet(*req.Filters)
	}
	if req.Groups != nil {
		h.groups = normalizeSet(*req.Groups)
	}
	if req.Secret != nil {
		h.secret = *req.Secret
	}
}

// generateName makes the 8 hex characters the service shows for names it picks, retrying on the rare
// clash within the scope.
func generateName(hs *hookSet) string {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name := hex.EncodeToString(b[:])
		if hs.find(name) == nil {
			return name
		}
	}
}

// ScopeWebhooks returns the scope's webhooks in creation order.
func (s *store) ScopeWebhooks(sc Scope) ([]Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, err := s.hooksLocked(sc)
	if err != nil {
		return nil, err
	}
	out := make([]Webhook, 0, len(hs.list))
	for _, h := range hs.list {
		out = append(out, h.export())
	}
	return out, nil
}

// Webhook returns one webhook.
func (s *store) Webhook(sc Scope, name string) (Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, h, err := s.hookLocked(sc, name)
	if err != nil {
		return Webhook{}, err
	}
	return h.export(), nil
}

// DeleteWebhook removes one webhook. Its deliveries stay in the log.
func (s *store) DeleteWebhook(sc Scope, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, h, err := s.hookLocked(sc, name)
	if err != nil {
		return err
	}
	hs.list = slices.DeleteFunc(hs.list, func(x *hook) bool { return x == h })
	return nil
}

// AllWebhooks returns every webhook, ordered by scope path and then by creation.
func (s *store) AllWebhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	paths := make([]string, 0, len(s.hooks))
	for p := range s.hooks {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := []Webhook{}
	for _, p := range paths {
		for _, h := range s.hooks[p].list {
			out = append(out, h.export())
		}
	}
	return out
}

// PingWebhook records a ping delivery to one webhook, active or not. It starts nothing. The job, when
// not nil, is the request the caller must send (outside the lock) to complete the delivery.
func (s *store) PingWebhook(sc Scope, name string) (Delivery, *sendJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, h, err := s.hookLocked(sc, name)
	if err != nil {
		return Delivery{}, nil, err
	}
	d, job := s.recordOutgoingLocked(h, event{name: eventPing, subject: h.scope, payload: pingPayload(s.now())}, "", false)
	return d, job, nil
}

// WebhookDeliveries returns one webhook's deliveries, oldest first.
func (s *store) WebhookDeliveries(sc Scope, name string) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, h, err := s.hookLocked(sc, name)
	if err != nil {
		return nil, err
	}
	out := []Delivery{}
	for _, d := range s.deliveries {
		if d.hookID == h.id {
			out = append(out, d.Delivery)
		}
	}
	return out, nil
}

// Redeliver replays a recorded delivery of a webhook as a new delivery: for a pulumi_deployments
// webhook it runs the cascade the delivery starts; for a raw webhook on this machine it returns the job
// the caller must send (outside the lock) to complete the delivery.
func (s *store) Redeliver(sc Scope, name, deliveryID string) (Delivery, *sendJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, h, err := s.hookLocked(sc, name)
	if err != nil {
		return Delivery{}, nil, err
	}
	i := slices.IndexFunc(s.deliveries, func(d delivery) bool { return d.hookID == h.id && d.ID == deliveryID })
	if i < 0 {
		return Delivery{}, nil, errorf(http.StatusNotFound, "Delivery %s of webhook %s not found", deliveryID, h.name)
	}
	orig := s.deliveries[i].Delivery
	ev := event{name: orig.Event, subject: h.scope, payload: []byte(orig.Payload)}
	if h.format != FormatPulumiDeployments {
		d, job := s.recordOutgoingLocked(h, ev, orig.ID, false)
		return d, job, nil
	}
	c := s.newCascade()
	d := c.deliver(h, ev, orig.ID)
	c.run()
	return d, nil, nil
}

// AllDeliveries returns every delivery in the order they were made.
func (s *store) AllDeliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		out[i] = d.Delivery
	}
	return out
}
