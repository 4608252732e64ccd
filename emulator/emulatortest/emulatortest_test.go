package emulatortest_test

import (
	"net/http"
	"testing"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

func TestStartServesTheAPIWithTheToken(t *testing.T) {
	t.Parallel()
	c := emulatortest.Start(t, emulatortest.WithToken("pul-x"))
	c.SeedDeployable(t, "org", "proj", "a", "b")
	for token, want := range map[string]int{"pul-x": http.StatusOK, "pul-other": http.StatusUnauthorized} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.URL+"/api/stacks/org/proj/a", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "token "+token)
		resp, err := c.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %s: status %d, want %d", token, resp.StatusCode, want)
		}
	}
	if c.Token != "pul-x" {
		t.Errorf("Token = %q", c.Token)
	}
}
