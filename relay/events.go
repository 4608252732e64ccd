package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// Webhook delivery headers Pulumi Cloud sends.
const (
	headerSignature = "Pulumi-Webhook-Signature"
	headerKind      = "Pulumi-Webhook-Kind"
	headerID        = "Pulumi-Webhook-ID"
)

// Event is a successful update of a stack, as a delivery announces it.
type Event struct {
	Organization string `json:"organization"`
	Project      string `json:"project"`
	Stack        string `json:"stack"`
	// Version is the stack version the update wrote.
	Version int `json:"version"`
}

// Ref is the event's stack as "project/stack".
func (e Event) Ref() string { return e.Project + "/" + e.Stack }

// Errors verifySignature returns; their texts are what a refused delivery's 401 says.
var (
	errNoSignature  = errors.New("the delivery has no " + headerSignature + " header: set the webhook's secret to the relay's")
	errBadSignature = errors.New(headerSignature + " does not match the body: the webhook's secret is not the relay's")
)

// verifySignature checks the hex HMAC-SHA256 of body under any of the secrets (the current one
// and, while it is being rotated, the previous one).
func verifySignature(body []byte, signature string, secrets [][]byte) error {
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return errNoSignature
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return errBadSignature
	}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			return nil
		}
	}
	return errBadSignature
}

// updatePayload is the part of a stack_update delivery the relay reads. The organization is
// an object in the service's payloads (githubLogin is its URL name); a plain string is
// accepted too.
type updatePayload struct {
	Organization json.RawMessage `json:"organization"`
	ProjectName  string          `json:"projectName"`
	StackName    string          `json:"stackName"`
	UpdateURL    string          `json:"updateUrl"`
	Version      int             `json:"version"`
	Kind         string          `json:"kind"`
	Result       string          `json:"result"`
	IsPreview    bool            `json:"isPreview"`
}

// parseDelivery reads a verified delivery. It returns the event, or a reason the delivery
// starts nothing (another kind of event, a preview, a failure), or an error for a body that
// claims to be an update but cannot be read.
func parseDelivery(kind string, body []byte) (ev Event, ignored string, err error) {
	if kind != "" && kind != "stack_update" {
		return Event{}, fmt.Sprintf("a %s event starts nothing: only successful updates (stack_update) do", kind), nil
	}
	var p updatePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, "", fmt.Errorf("the body is not a JSON stack_update payload: %w", err)
	}
	switch {
	case p.IsPreview:
		return Event{}, "a preview starts nothing: only successful updates do", nil
	case p.Kind != "" && p.Kind != "update":
		return Event{}, fmt.Sprintf("a %q operation starts nothing: only successful updates do", p.Kind), nil
	case p.Result != "" && p.Result != "succeeded":
		return Event{}, fmt.Sprintf("an update that %s starts nothing: only successful updates do", p.Result), nil
	}
	ev = Event{Project: p.ProjectName, Stack: p.StackName, Version: p.Version}
	if ev.Organization, err = organizationName(p.Organization); err != nil {
		return Event{}, "", err
	}
	if ev.Version == 0 {
		ev.Version = versionFromUpdateURL(p.UpdateURL)
	}
	switch {
	case !edge.ValidName(ev.Organization):
		return Event{}, "", fmt.Errorf("organization %q is not a valid organization name", ev.Organization)
	case !edge.ValidName(ev.Project) || !edge.ValidName(ev.Stack):
		return Event{}, "", fmt.Errorf("projectName %q and stackName %q must both be valid names "+
			"(1-100 letters, digits, '-', '_' or '.')", ev.Project, ev.Stack)
	case ev.Version <= 0:
		return Event{}, "", fmt.Errorf("the payload carries no stack version: neither a positive version nor "+
			"an updateUrl ending in /updates/<version> (updateUrl is %q)", p.UpdateURL)
	}
	return ev, "", nil
}

func organizationName(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("the payload has no organization")
	}
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return name, nil
	}
	var org struct {
		GitHubLogin string `json:"githubLogin"`
		Name        string `json:"name"`
	}
	if err := json.Unmarshal(raw, &org); err != nil {
		return "", fmt.Errorf("organization is neither a name nor an object: %w", err)
	}
	if org.GitHubLogin != "" {
		return org.GitHubLogin, nil
	}
	return org.Name, nil
}

// versionFromUpdateURL reads the version an update URL ends with (".../updates/7"), or 0.
func versionFromUpdateURL(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	segs := strings.Split(strings.TrimRight(u.Path, "/"), "/")
	if len(segs) < 2 || segs[len(segs)-2] != "updates" {
		return 0
	}
	v, err := strconv.Atoi(segs[len(segs)-1])
	if err != nil || v < 0 {
		return 0
	}
	return v
}
