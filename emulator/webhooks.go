package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
)

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

// webhookWire encodes a webhook for the API. secretCiphertext is an HMAC of the secret under the
// server's key: stable while the process runs, and never the secret itself.
func (s *Server) webhookWire(h Webhook) webhookWire {
	w := webhookWire{
		OrganizationName: h.Org,
		ProjectName:      h.Project,
		StackName:        h.Stack,
		EnvName:          h.Env,
		Name:             h.Name,
		DisplayName:      h.DisplayName,
		PayloadURL:       h.PayloadURL,
		Active:           h.Active,
		Format:           h.Format,
		Filters:          slices.Clone(h.Filters),
		Groups:           slices.Clone(h.Groups),
		HasSecret:        h.Secret != "",
	}
	if h.Secret != "" {
		mac := hmac.New(sha256.New, s.cipherKey)
		mac.Write([]byte(h.Secret))
		w.SecretCiphertext = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return w
}

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
		s.handle(s.api, "GET "+base+"/{name}", scoped(s.getWebhook))
		s.handle(s.api, "PATCH "+base+"/{name}", scoped(s.updateWebhook))
		s.handle(s.api, "DELETE "+base+"/{name}", scoped(s.deleteWebhook))
		s.handle(s.api, "POST "+base+"/{name}/ping", scoped(s.pingWebhook))
		s.handle(s.api, "GET "+base+"/{name}/deliveries", scoped(s.listDeliveries))
		s.handle(s.api, "POST "+base+"/{name}/deliveries/{event}/redeliver", scoped(s.redeliver))
	}
}

func (s *Server) createWebhook(r *http.Request, sc Scope) (int, any, error) {
	var req webhookRequest
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	h, err := s.store.CreateWebhook(sc, &req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.webhookWire(h), nil
}

func (s *Server) listWebhooks(_ *http.Request, sc Scope) (int, any, error) {
	hooks, err := s.store.ScopeWebhooks(sc)
	if err != nil {
		return 0, nil, err
	}
	out := make([]webhookWire, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, s.webhookWire(h))
	}
	return http.StatusOK, out, nil
}

func (s *Server) getWebhook(r *http.Request, sc Scope) (int, any, error) {
	h, err := s.store.Webhook(sc, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.webhookWire(h), nil
}

func (s *Server) updateWebhook(r *http.Request, sc Scope) (int, any, error) {
	var req webhookRequest
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	h, err := s.store.UpdateWebhook(sc, r.PathValue("name"), &req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.webhookWire(h), nil
}

func (s *Server) deleteWebhook(r *http.Request, sc Scope) (int, any, error) {
	if err := s.store.DeleteWebhook(sc, r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) pingWebhook(r *http.Request, sc Scope) (int, any, error) {
	d, job, err := s.store.PingWebhook(sc, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.sendNow(r, d, job).DeliveryRecord, nil
}

// sendNow sends a delivery the store recorded as pending, while the request waits, so that the answer
// shows what the receiver said. It holds no lock while sending.
func (s *Server) sendNow(r *http.Request, d Delivery, job *sendJob) Delivery {
	if job == nil {
		return d
	}
	s.store.outbox.sendNow(r.Context(), *job)
	if sent, ok := s.store.Delivery(d.ID); ok {
		return sent
	}
	return d
}

func (s *Server) listDeliveries(r *http.Request, sc Scope) (int, any, error) {
	ds, err := s.store.WebhookDeliveries(sc, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]DeliveryRecord, len(ds))
	for i, d := range ds {
		out[i] = d.DeliveryRecord
	}
	return http.StatusOK, out, nil
}

func (s *Server) redeliver(r *http.Request, sc Scope) (int, any, error) {
	d, job, err := s.store.Redeliver(sc, r.PathValue("name"), r.PathValue("event"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.sendNow(r, d, job).DeliveryRecord, nil
}
