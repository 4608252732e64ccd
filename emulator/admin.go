package emulator

import (
	"net/http"
)

// registerAdminRoutes serves the local control API. It takes no token: it is meant for the developer's
// own machine and test harnesses, never for an emulator exposed to a network. Like the API handlers, the
// admin handlers only decode, call the store (or the traffic accessors) and encode.
func (s *Server) registerAdminRoutes() {
	const p = "/_emulator"
	s.handle(s.admin, "GET "+p+"/healthz", func(*http.Request) (int, any, error) {
		return http.StatusOK, map[string]string{"status": "ok"}, nil
	})
	s.registerUpdateRoutes()
	s.registerDeliveryFaultRoutes()
	s.handle(s.admin, "POST "+p+"/environments/{org}/{project}/{env}/revision", func(r *http.Request) (int, any, error) {
		res, err := s.store.FireEnvironmentRevision(r.PathValue("org"), r.PathValue("project"), r.PathValue("env"))
		return http.StatusOK, res, err
	})
	s.handle(s.admin, "GET "+p+"/webhooks", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.store.AllWebhooks(), nil
	})
	s.handle(s.admin, "GET "+p+"/deployments", func(*http.Request) (int, any, error) {
		return http.StatusOK, nonNil(s.store.AllDeployments()), nil
	})
	s.handle(s.admin, "GET "+p+"/deliveries", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.store.AllDeliveries(), nil
	})
	s.handle(s.admin, "GET "+p+"/stats", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.Stats(), nil
	})
	s.handle(s.admin, "POST "+p+"/stats/reset", func(*http.Request) (int, any, error) {
		s.ResetStats()
		return http.StatusNoContent, nil, nil
	})
	s.handle(s.admin, "GET "+p+"/requests", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.Requests(), nil
	})
	s.handle(s.admin, "GET "+p+"/faults", func(*http.Request) (int, any, error) {
		return http.StatusOK, toFaultsWire(s.CurrentFaults()), nil
	})
	s.handle(s.admin, "PUT "+p+"/faults", func(r *http.Request) (int, any, error) {
		var fw faultsWire
		if err := decodeJSON(r, &fw); err != nil {
			return 0, nil, err
		}
		f := fw.faults()
		if err := validateFaults(f); err != nil {
			return 0, nil, err
		}
		s.SetFaults(f)
		return http.StatusOK, toFaultsWire(f), nil
	})
	s.handle(s.admin, "DELETE "+p+"/faults", func(*http.Request) (int, any, error) {
		s.SetFaults(Faults{})
		return http.StatusNoContent, nil, nil
	})
	s.handle(s.admin, "POST "+p+"/seed", func(r *http.Request) (int, any, error) {
		var data SeedData
		if err := decodeJSON(r, &data); err != nil {
			return 0, nil, err
		}
		if err := s.store.Seed(data); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]int{"stacks": len(data.Stacks), "environments": len(data.Environments)}, nil
	})
}
