package emulator

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
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

func (st *stack) summary() stackSummaryWire {
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

// stackCursor is where a page ended: the continuation token is this, as JSON, in unpadded base64url. A
// position rather than an offset, so a stack created or deleted between two pages neither repeats nor
// skips the stacks after it.
type stackCursor [3]string // org, project, stack

func compareStackKeys(a, b stackCursor) int {
	return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]), strings.Compare(a[2], b[2]))
}

func (st *stack) cursor() stackCursor { return stackCursor{st.org, st.project, st.name} }

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

	s.mu.Lock()
	defer s.mu.Unlock()
	var matches []*stack
	for _, st := range s.stacks {
		if (org != "" && st.org != org) || (project != "" && st.project != project) {
			continue
		}
		if tagName != "" {
			v, ok := st.tags[tagName]
			if !ok || (tagValue != "" && v != tagValue) {
				continue
			}
		}
		if after != nil && compareStackKeys(st.cursor(), *after) <= 0 {
			continue
		}
		matches = append(matches, st)
	}
	slices.SortFunc(matches, func(a, b *stack) int { return compareStackKeys(a.cursor(), b.cursor()) })

	out := listStacksWire{Stacks: []stackSummaryWire{}}
	for _, st := range matches[:min(limit, len(matches))] {
		out.Stacks = append(out.Stacks, st.summary())
	}
	// A token only when another page has something on it: the last page never carries one.
	if len(matches) > limit {
		out.ContinuationToken = encodeStackCursor(matches[limit-1].cursor())
	}
	return http.StatusOK, out, nil
}
