package emulator

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type stackPage struct {
	Stacks []struct {
		ID            string `json:"id"`
		OrgName       string `json:"orgName"`
		ProjectName   string `json:"projectName"`
		StackName     string `json:"stackName"`
		LastUpdate    int64  `json:"lastUpdate"`
		ResourceCount int    `json:"resourceCount"`
		Links         struct {
			Self string `json:"self"`
		} `json:"links"`
	} `json:"stacks"`
	ContinuationToken *string `json:"continuationToken"`
}

func (p stackPage) names() []string {
	out := make([]string, len(p.Stacks))
	for i, s := range p.Stacks {
		out[i] = s.OrgName + "/" + s.ProjectName + "/" + s.StackName
	}
	return out
}

// listStacks asks for one page and checks the status.
func (h *harness) listStacks(query url.Values) stackPage {
	h.t.Helper()
	return must[stackPage](h.t, h.call(http.MethodGet, "/api/user/stacks?"+query.Encode(), nil), http.StatusOK)
}

// seedTagged creates org/project/stack with tags through the API.
func seedTagged(t *testing.T, h *harness, org, project, name string, tags map[string]string) {
	t.Helper()
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/"+org+"/"+project,
		map[string]any{"stackName": name, "tags": tags}), http.StatusOK)
}

// Created out of order, with names whose tuple order differs from their "org/project/stack" string order
// ("a" before "a-b", although '-' sorts before '/').
var listedStacks = []string{
	"acme/web/prod", "a-b/x/s", "acme/api/dev", "a/x/s", "acme/api/prod", "zeta/api/dev", "acme/web/dev",
}

var listedSorted = []string{
	"a/x/s", "a-b/x/s", "acme/api/dev", "acme/api/prod", "acme/web/dev", "acme/web/prod", "zeta/api/dev",
}

func seedListed(t *testing.T, h *harness) {
	t.Helper()
	tags := map[string]map[string]string{
		"acme/api/prod": {"env": "prod", "team": "api"},
		"acme/web/prod": {"env": "prod"},
		"acme/api/dev":  {"env": "dev"},
	}
	for _, key := range listedStacks {
		org, project, name := splitKey(t, key)
		seedTagged(t, h, org, project, name, tags[key])
	}
}

func splitKey(t *testing.T, key string) (string, string, string) {
	t.Helper()
	parts := strings.Split(key, "/")
	require.Len(t, parts, 3, key)
	return parts[0], parts[1], parts[2]
}

func TestListUserStacksPaginates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedListed(t, h)

	var all []string
	var pages [][]string
	q := url.Values{"maxResults": {"3"}}
	for range 10 {
		page := h.listStacks(q)
		pages = append(pages, page.names())
		all = append(all, page.names()...)
		if page.ContinuationToken == nil {
			break
		}
		require.NotEmpty(t, *page.ContinuationToken)
		q.Set("continuationToken", *page.ContinuationToken)
	}
	assert.Equal(t, [][]string{listedSorted[:3], listedSorted[3:6], listedSorted[6:]}, pages)
	assert.Equal(t, listedSorted, all)

	// A page that ends exactly at the last stack carries no token: no empty last page.
	exact := h.listStacks(url.Values{"maxResults": {"7"}})
	assert.Equal(t, listedSorted, exact.names())
	assert.Nil(t, exact.ContinuationToken)

	// The default page holds them all.
	def := h.listStacks(nil)
	assert.Equal(t, listedSorted, def.names())
	assert.Nil(t, def.ContinuationToken)
	assert.Contains(t, string(h.call(http.MethodGet, "/api/user/stacks", nil).body), `"stacks":[`)
}

// A stack deleted or created before the cursor between two pages moves nothing after it.
func TestListUserStacksCursorSurvivesChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedListed(t, h)
	first := h.listStacks(url.Values{"maxResults": {"3"}})
	require.NotNil(t, first.ContinuationToken)
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/api/dev", nil).status)
	seedTagged(t, h, "a", "a", "a", nil)
	next := h.listStacks(url.Values{"maxResults": {"3"}, "continuationToken": {*first.ContinuationToken}})
	assert.Equal(t, listedSorted[3:6], next.names())
}

func TestListUserStacksFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedListed(t, h)
	for name, tc := range map[string]struct {
		query url.Values
		want  []string
	}{
		"organization":   {url.Values{"organization": {"acme"}}, listedSorted[2:6]},
		"project":        {url.Values{"project": {"api"}}, []string{"acme/api/dev", "acme/api/prod", "zeta/api/dev"}},
		"org and proj":   {url.Values{"organization": {"acme"}, "project": {"web"}}, listedSorted[4:6]},
		"tag name":       {url.Values{"tagName": {"env"}}, []string{"acme/api/dev", "acme/api/prod", "acme/web/prod"}},
		"tag value":      {url.Values{"tagName": {"env"}, "tagValue": {"prod"}}, []string{"acme/api/prod", "acme/web/prod"}},
		"tag and proj":   {url.Values{"tagName": {"env"}, "tagValue": {"prod"}, "project": {"web"}}, []string{"acme/web/prod"}},
		"no such org":    {url.Values{"organization": {"nobody"}}, []string{}},
		"no such tag":    {url.Values{"tagName": {"missing"}}, []string{}},
		"roleID is ok":   {url.Values{"roleID": {"r1"}, "organization": {"zeta"}}, []string{"zeta/api/dev"}},
		"empty tagValue": {url.Values{"tagName": {"team"}, "tagValue": {""}}, []string{"acme/api/prod"}},
	} {
		t.Run(name, func(t *testing.T) {
			page := h.listStacks(tc.query)
			assert.Equal(t, tc.want, page.names())
			assert.Nil(t, page.ContinuationToken)
		})
	}

	// Filters and pages together: a filtered listing pages over the matches only.
	q := url.Values{"organization": {"acme"}, "maxResults": {"2"}}
	first := h.listStacks(q)
	assert.Equal(t, listedSorted[2:4], first.names())
	require.NotNil(t, first.ContinuationToken)
	q.Set("continuationToken", *first.ContinuationToken)
	second := h.listStacks(q)
	assert.Equal(t, listedSorted[4:6], second.names())
	assert.Nil(t, second.ContinuationToken)
}

func TestListUserStacksSummary(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, func(o *Options) { o.Now = func() time.Time { return now } })
	seedTagged(t, h, "acme", "app", "dev", nil)
	seedTagged(t, h, "acme", "app", "prod", nil)
	_, err := h.srv.FireUpdate("acme", "app", "prod")
	require.NoError(t, err)

	raw := must[map[string]any](t, h.call(http.MethodGet, "/api/user/stacks", nil), http.StatusOK)
	assert.NotContains(t, raw, "continuationToken")
	stacks := raw["stacks"].([]any)
	require.Len(t, stacks, 2)
	dev, prod := stacks[0].(map[string]any), stacks[1].(map[string]any)
	for _, key := range []string{"id", "orgName", "projectName", "stackName", "resourceCount", "links"} {
		assert.Contains(t, dev, key)
	}
	assert.NotContains(t, dev, "lastUpdate", "never updated")
	assert.Equal(t, float64(now.Unix()), prod["lastUpdate"])
	assert.Equal(t, float64(0), prod["resourceCount"])
	assert.Equal(t, map[string]any{"self": "https://app.pulumi.com/acme/app/prod"}, prod["links"])

	got := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/prod", nil), http.StatusOK)
	assert.Equal(t, got["id"], prod["id"], "the same id as the stack itself")
}

func TestListUserStacksBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedListed(t, h)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, tc := range map[string]struct {
		query url.Values
		want  string
	}{
		"tagValue without tagName": {url.Values{"tagValue": {"prod"}}, "tagValue requires tagName"},
		"token not base64":         {url.Values{"continuationToken": {"not a token!"}}, "invalid continuationToken"},
		"token not JSON":           {url.Values{"continuationToken": {b64("acme/api/dev")}}, "invalid continuationToken"},
		"token of two names":       {url.Values{"continuationToken": {b64(`["acme","api"]`)}}, "invalid continuationToken"},
		"token with empty name":    {url.Values{"continuationToken": {b64(`["acme","api",""]`)}}, "invalid continuationToken"},
		"maxResults zero":          {url.Values{"maxResults": {"0"}}, "maxResults must be a whole number from 1 to 500"},
		"maxResults too large":     {url.Values{"maxResults": {"501"}}, "maxResults must be a whole number from 1 to 500"},
		"maxResults not a number":  {url.Values{"maxResults": {"ten"}}, "maxResults"},
	} {
		t.Run(name, func(t *testing.T) {
			msg := mustError(t, h.call(http.MethodGet, "/api/user/stacks?"+tc.query.Encode(), nil), http.StatusBadRequest)
			assert.Contains(t, msg, tc.want)
		})
	}
	assert.Equal(t, http.StatusUnauthorized,
		h.send(http.MethodGet, "/api/user/stacks", nil, map[string]string{"Authorization": "token nope"}).status)
}

func TestSeedSetsTagsOfNewStacksOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.Seed(SeedData{Stacks: []SeedStack{
		{Org: "acme", Project: "app", Stack: "dev", Tags: map[string]string{"env": "dev"}},
	}}))
	require.NoError(t, h.srv.Seed(SeedData{Stacks: []SeedStack{
		{Org: "acme", Project: "app", Stack: "dev", Tags: map[string]string{"env": "other"}},
	}}))
	got := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil), http.StatusOK)
	assert.Equal(t, map[string]any{"env": "dev"}, got["tags"])
	assert.Equal(t, []string{"acme/app/dev"},
		h.listStacks(url.Values{"tagName": {"env"}, "tagValue": {"dev"}}).names())
}
