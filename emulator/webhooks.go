package emulator

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"sort"
	"time"
)

// hook is a stored webhook. id is unique for the server's lifetime, so deliveries of a deleted webhook
// never show up under a new one that reuses its name.
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

// webhookWire is the webhook as the API returns it: never the secret, only whether there is one.
type webhookWire struct {
	OrganizationName string   `json:"organizationName"`
	ProjectName      string   `json:"projectName,omitempty"`
	StackName        string   `json:"stackName,omitempty"`
	EnvName          string   `json:"envName,omitempty"`
	Name             string   `json:"name"`
	DisplayName      string   `json:"displayName"`
	PayloadURL       string   `json:"payloadUrl"`
	Active           bool     `json:"active"`
	Format           string   `json:"format"`
	Filters          []string `json:"filters,omitempty"`
	Groups           []string `json:"groups,omitempty"`
	HasSecret        bool     `json:"hasSecret"`
	SecretCiphertext string   `json:"secretCiphertext"`
}

func (s *Server) wire(h *hook) webhookWire {
	w := webhookWire{
		OrganizationName: h.scope.Org,
		ProjectName:      h.scope.Project,
		StackName:        h.scope.Stack,
		EnvName:          h.scope.Env,
		Name:             h.name,
		DisplayName:      h.displayName,
		PayloadURL:       h.payloadURL,
		Active:           h.active,
		Format:           h.format,
		Filters:          slices.Clone(h.filters),
		Groups:           slices.Clone(h.groups),
		HasSecret:        h.secret != "",
	}
	if h.secret != "" {
		mac := hmac.New(sha256.New, s.cipherKey)
		mac.Write([]byte(h.secret))
		w.SecretCiphertext = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return w
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

// scopedFunc is a webhook handler that has its scope resolved from the URL.
type scopedFunc func(r *http.Request, sc Scope) (int, any, error)

func (s *Server) registerWebhookRoutes() {
	for _, typ := range []string{ScopeOrganization, ScopeStack, ScopeEnvironment} {
		// Placeholder names turn the scope's path into the route pattern.
		base := Scope{Type: typ, Org: "{org}", Project: "{project}", Stack: "{stack}", Env: "{env}"}.Path()
		scoped := func(f scopedFunc) handlerFunc {
			return func(r *http.Request) (int, any, error) {
				return f(r, Scope{
					Type:    typ,
					Org:     r.PathValue("org"),
					Project: r.PathValue("project"),
					Stack:   r.PathValue("stack"),
					Env:     r.PathValue("env"),
				})
			}
		}
		s.handle(s.api, "POST "+base, scoped(s.createWebhook))
		s.handle(s.api, "GET "+base, scoped(s.listWebhooks))
		s.handle(s.api, "GET "+base+"/{name}", scoped(s.named(s.getWebhook)))
		s.handle(s.api, "PATCH "+base+"/{name}", scoped(s.updateWebhook))
		s.handle(s.api, "DELETE "+base+"/{name}", scoped(s.named(s.deleteWebhook)))
		s.handle(s.api, "POST "+base+"/{name}/ping", scoped(s.named(s.pingWebhook)))
		s.handle(s.api, "GET "+base+"/{name}/deliveries", scoped(s.named(s.listDeliveries)))
		s.handle(s.api, "POST "+base+"/{name}/deliveries/{event}/redeliver", scoped(s.named(s.redeliver)))
	}
}

// scopeLocked returns the scope's webhooks, or 404 when the stack or environment does not exist.
// Organizations always exist: the emulator serves any organization name.
func (s *Server) scopeLocked(sc Scope) (*hookSet, error) {
	switch sc.Type {
	case ScopeStack:
		if s.stacks[resourceKey(sc.Org, sc.Project, sc.Stack)] == nil {
			return nil, errorf(http.StatusNotFound, "Stack '%s/%s/%s' not found", sc.Org, sc.Project, sc.Stack)
		}
	case ScopeEnvironment:
		if s.envs[resourceKey(sc.Org, sc.Project, sc.Env)] == nil {
			return nil, errorf(http.StatusNotFound, "Environment '%s/%s/%s' not found", sc.Org, sc.Project, sc.Env)
		}
	}
	hs := s.hooks[sc.Path()]
	if hs == nil {
		hs = &hookSet{scope: sc}
		s.hooks[sc.Path()] = hs
	}
	return hs, nil
}

func (s *Server) hookLocked(sc Scope, name string) (*hookSet, *hook, error) {
	hs, err := s.scopeLocked(sc)
	if err != nil {
		return nil, nil, err
	}
	h := hs.find(name)
	if h == nil {
		return nil, nil, errorf(http.StatusNotFound, "Webhook %s not found", name)
	}
	return hs, h, nil
}

// hookFunc handles a request about one existing webhook; it runs under s.mu.
type hookFunc func(r *http.Request, hs *hookSet, h *hook) (int, any, error)

// named resolves the webhook in the URL, answering 404 for an unknown scope or name. Handlers with a body
// decode it before taking the lock instead, so that a slow client never holds it.
func (s *Server) named(f hookFunc) scopedFunc {
	return func(r *http.Request, sc Scope) (int, any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		hs, h, err := s.hookLocked(sc, r.PathValue("name"))
		if err != nil {
			return 0, nil, err
		}
		return f(r, hs, h)
	}
}

func (s *Server) createWebhook(r *http.Request, sc Scope) (int, any, error) {
	var req webhookRequest
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, err := s.scopeLocked(sc)
	if err != nil {
		return 0, nil, err
	}
	if err := checkScopeFields(sc, &req, true); err != nil {
		return 0, nil, err
	}
	h := &hook{scope: sc, format: FormatRaw, created: s.now()}
	if req.Name != nil && *req.Name != "" {
		if err := validateWebhookName(*req.Name); err != nil {
			return 0, nil, err
		}
		h.name = *req.Name
	}
	if req.Active == nil {
		return 0, nil, errorf(http.StatusBadRequest, "active is required: send true or false")
	}
	applyWebhookFields(h, &req)
	if err := validateHook(h); err != nil {
		return 0, nil, err
	}
	if h.name == "" {
		h.name = generateName(hs)
	} else if hs.find(h.name) != nil {
		return 0, nil, errorf(http.StatusConflict, "Webhook with name %s already exists", h.name)
	}
	s.seq++
	h.id = s.seq
	hs.list = append(hs.list, h)
	return http.StatusCreated, s.wire(h), nil
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

func (s *Server) listWebhooks(_ *http.Request, sc Scope) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, err := s.scopeLocked(sc)
	if err != nil {
		return 0, nil, err
	}
	out := make([]webhookWire, 0, len(hs.list))
	for _, h := range hs.list {
		out = append(out, s.wire(h))
	}
	return http.StatusOK, out, nil
}

func (s *Server) getWebhook(_ *http.Request, _ *hookSet, h *hook) (int, any, error) {
	return http.StatusOK, s.wire(h), nil
}

func (s *Server) updateWebhook(r *http.Request, sc Scope) (int, any, error) {
	var req webhookRequest
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	_, h, err := s.hookLocked(sc, name)
	if err != nil {
		return 0, nil, err
	}
	if err := checkScopeFields(sc, &req, false); err != nil {
		return 0, nil, err
	}
	// Renaming is not an update: the name is the webhook's identity within its scope.
	if req.Name != nil && *req.Name != "" && *req.Name != name {
		return 0, nil, errorf(http.StatusBadRequest, "name %q does not match %q in the URL", *req.Name, name)
	}
	// Validate a copy so that a refused update leaves the stored webhook as it was.
	updated := *h
	applyWebhookFields(&updated, &req)
	if err := validateHook(&updated); err != nil {
		return 0, nil, err
	}
	*h = updated
	return http.StatusOK, s.wire(h), nil
}

func (s *Server) deleteWebhook(_ *http.Request, hs *hookSet, h *hook) (int, any, error) {
	hs.list = slices.DeleteFunc(hs.list, func(x *hook) bool { return x == h })
	return http.StatusNoContent, nil, nil
}

func (s *Server) pingWebhook(_ *http.Request, _ *hookSet, h *hook) (int, any, error) {
	d := s.recordDelivery(h, "ping", pingPayload(h, s.now()), "", func(d *Delivery) {
		d.ResponseCode = http.StatusOK
		d.ResponseBody = notSentBody
	})
	return http.StatusOK, d.DeliveryRecord, nil
}

func (s *Server) listDeliveries(_ *http.Request, _ *hookSet, h *hook) (int, any, error) {
	out := []DeliveryRecord{}
	for _, d := range s.deliveries {
		if d.hookID == h.id {
			out = append(out, d.DeliveryRecord)
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) redeliver(r *http.Request, _ *hookSet, h *hook) (int, any, error) {
	event := r.PathValue("event")
	i := slices.IndexFunc(s.deliveries, func(d delivery) bool { return d.hookID == h.id && d.ID == event })
	if i < 0 {
		return 0, nil, errorf(http.StatusNotFound, "Delivery %s of webhook %s not found", event, h.name)
	}
	orig := s.deliveries[i].Delivery
	c := s.newCascade()
	d := c.deliver(h, orig.Kind, []byte(orig.Payload), orig.ID)
	c.run()
	return http.StatusOK, d.DeliveryRecord, nil
}

// Webhooks returns every webhook, ordered by scope path and then by creation.
func (s *Server) Webhooks() []Webhook {
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
