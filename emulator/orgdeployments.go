package emulator

import (
	"net/http"
)

// The organization's view of its deployments (ListOrgDeployments, OrgDeploymentsMetadata) and
// cancelling one (CancelDeployment).

// deploymentCountsWire is DeploymentCounts: how many of the organization's deployments have each status.
type deploymentCountsWire struct {
	NotStarted int `json:"notStarted"`
	Accepted   int `json:"accepted"`
	Running    int `json:"running"`
	Failed     int `json:"failed"`
	Succeeded  int `json:"succeeded"`
	Skipped    int `json:"skipped"`
	Total      int `json:"total"`
}

// orgDeploymentsMetadataWire is OrgDeploymentsMetadataResponse. paused is always false (the emulator
// cannot pause deployments); concurrency is the cap of DeploymentMode, 0 when there is none.
type orgDeploymentsMetadataWire struct {
	Paused           bool                 `json:"paused"`
	Concurrency      int                  `json:"concurrency"`
	DeploymentCounts deploymentCountsWire `json:"deploymentCounts"`
}

// listOrgDeployments answers a page of the deployments of the organization's stacks, across its stacks,
// newest first unless asc=true. Any organization exists: one without deployments has an empty list.
func (s *Server) listOrgDeployments(r *http.Request) (int, any, error) {
	return deploymentPage(r.URL.Query(), s.store.OrgDeployments(r.PathValue("org")))
}

func (s *Server) orgDeploymentsMetadata(r *http.Request) (int, any, error) {
	var counts deploymentCountsWire
	for _, d := range s.store.OrgDeployments(r.PathValue("org")) {
		counts.Total++
		switch d.Status {
		case StatusNotStarted:
			counts.NotStarted++
		case StatusRunning:
			counts.Running++
		case StatusFailed:
			counts.Failed++
		case StatusSucceeded:
			counts.Succeeded++
		case StatusSkipped:
			counts.Skipped++
		}
	}
	return http.StatusOK, orgDeploymentsMetadataWire{Concurrency: s.store.Mode().Concurrency, DeploymentCounts: counts}, nil
}

// cancelDeployment answers 200 without a body, as the service documents it.
func (s *Server) cancelDeployment(r *http.Request) (int, any, error) {
	org, project, name := stackPath(r)
	if _, err := s.store.CancelDeployment(org, project, name, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}
