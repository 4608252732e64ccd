package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
)

const (
	// defaultListStacks and maxListStacks bound a page of GET /api/user/stacks. The service documents
	// neither; 100 keeps pages small enough that a test with a few hundred stacks sees several of them.
	defaultListStacks = 100
	maxListStacks     = 500
)

type stackSummaryWire struct {
	ID            string     `json:"id"`
	OrgName       string     `json:"orgName"`
	ProjectName   string     `json:"projectName"`
	StackName     string     `json:"stackName"`
	LastUpdate    int64      `json:"lastUpdate,omitempty"`
	ResourceCount int        `json:"resourceCount"`
	Links         stackLinks `json:"links"`
}

type stackLinks struct {
	Self string `json:"self"`
}

type listStacksWire struct {
	Stacks            []stackSummaryWire `json:"stacks"`
	ContinuationToken string             `json:"continuationToken,omitempty"`
}

func stackSummaryOf(st stack) stackSummaryWire {
	sum := stackSummaryWire{
		ID: st.id, OrgName: st.org, ProjectName: st.project, StackName: st.name,
		Links: stackLinks{Self: consoleBase + "/" + st.org + "/" + st.project + "/" + st.name},
	}
	if !st.lastUpdate.IsZero() {
		sum.LastUpdate = st.lastUpdate.Unix()
	}
	return sum
}

func (s *Server) registerUserStackRoutes() {
	s.handle(s.api, "GET /api/user/stacks", s.listUserStacks)
}

// encodeStackCursor makes the continuation token: the position after a page's last stack, as JSON, in
// unpadded base64url.
func encodeStackCursor(c stackCursor) string {
	data, _ := json.Marshal(c[:])
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeStackCursor(token string) (stackCursor, error) {
	bad := errorf(http.StatusBadRequest, "invalid continuationToken %q", token)
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return stackCursor{}, bad
	}
	var parts []string
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) != 3 || slices.Contains(parts, "") {
		return stackCursor{}, bad
	}
	return stackCursor{parts[0], parts[1], parts[2]}, nil
}

// listUserStacks answers GET /api/user/stacks: every stack matching the filters (the emulator has one
// token, which sees every organization), sorted by organization, project and stack name, one page at a
// time. roleID is accepted and ignored.
func (s *Server) listUserStacks(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	org, project := q.Get("organization"), q.Get("project")
	tagName, tagValue := q.Get("tagName"), q.Get("tagValue")
	if tagValue != "" && tagName == "" {
		return 0, nil, errorf(http.StatusBadRequest, "tagValue requires tagName")
	}
	limit, err := intParam(q.Get("maxResults"), "maxResults", defaultListStacks, 1, maxListStacks)
	if err != nil {
		return 0, nil, err
	}
	var after *stackCursor
	if token := q.Get("continuationToken"); token != "" {
		c, err := decodeStackCursor(token)
		if err != nil {
			return 0, nil, err
		}
		after = &c
	}

	f := stackFilter{Org: org, Project: project, TagName: tagName, TagValue: tagValue, After: after}
	page, more := s.store.ListStacks(f, limit)
	out := listStacksWire{Stacks: []stackSummaryWire{}}
	for _, st := range page {
		out.Stacks = append(out.Stacks, stackSummaryOf(st))
	}
	// A token only when another page has something on it: the last page never carries one.
	if more {
		out.ContinuationToken = encodeStackCursor(page[len(page)-1].cursor())
	}
	return http.StatusOK, out, nil
}
