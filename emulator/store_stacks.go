package emulator

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// stack is a stored stack. The store hands out copies made by clone.
type stack struct {
	id       string
	org      string
	project  string
	name     string
	version  int
	tags     map[string]string
	settings map[string]any // nil: no deployment settings
	// deployments counts the stack's deployments, which are numbered per stack.
	deployments int
	created     time.Time
	// lastUpdate is when the stack's latest update started (the service's lastUpdate is a start time:
	// an update's end does not move it); activeUpdate is that update's id. Both are zero until the
	// first update. operation is the update running now, nil when none (store_updates.go).
	lastUpdate   time.Time
	activeUpdate string
	operation    *StackOperation
	// running is the index in store.deployments of the deployment running now, -1 for none; waiting
	// holds the indexes of its not-started deployments, oldest first. Only manual and timed deployments
	// ever leave either set between two store calls.
	running int
	waiting []int
	// person is the person's update running now, nil when none: the stack's deployments wait for it.
	person *personUpdate
	// snapshots are the stack's outputs at each version, version 1 first (store_outputs.go).
	snapshots []snapshot
	// behaviour is how its deployments run and end (store_lifecycle.go).
	behaviour DeploymentBehaviour
	// reads are the stacks of the same organization whose outputs this stack's program reads through a
	// StackReference (its upstream references), in the order they were recorded.
	reads []stackRead
}

// clone copies the stack deeply enough that the copy shares nothing with the store.
func (st *stack) clone() stack {
	out := *st
	out.tags = maps.Clone(st.tags)
	out.settings = copyJSON(st.settings)
	out.waiting = slices.Clone(st.waiting)
	out.reads = slices.Clone(st.reads)
	// Snapshots are never changed once written, so a copy may share them.
	out.snapshots = slices.Clone(st.snapshots)
	out.behaviour = st.behaviour.clone()
	if st.operation != nil {
		op := *st.operation
		out.operation = &op
	}
	return out
}

func (st *stack) subject() Scope {
	return Scope{Type: ScopeStack, Org: st.org, Project: st.project, Stack: st.name}
}

// stackCursor is a position in the order of ListStacks: organization, project, stack name. A page that
// continues after a position, rather than at an offset, neither repeats nor skips stacks when others are
// created or deleted between two pages.
type stackCursor [3]string

func (st *stack) cursor() stackCursor { return stackCursor{st.org, st.project, st.name} }

func compareStackCursors(a, b stackCursor) int {
	return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]), strings.Compare(a[2], b[2]))
}

// stackFilter selects stacks for ListStacks. Empty fields select everything; TagValue needs TagName.
type stackFilter struct {
	Org, Project      string
	TagName, TagValue string
	// After, when set, keeps only the stacks that come after this position.
	After *stackCursor
}

func (f stackFilter) matches(st *stack) bool {
	if (f.Org != "" && st.org != f.Org) || (f.Project != "" && st.project != f.Project) {
		return false
	}
	if f.TagName != "" {
		v, ok := st.tags[f.TagName]
		if !ok || (f.TagValue != "" && v != f.TagValue) {
			return false
		}
	}
	return f.After == nil || compareStackCursors(st.cursor(), *f.After) > 0
}

func validateNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := validateIdent(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// CreateStack creates a stack, answering 409 when it exists, and tells the organization's webhooks.
func (s *store) CreateStack(org, project, name string, tags map[string]string) (stack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.addStack(org, project, name, tags)
	if err != nil {
		return stack{}, err
	}
	return st.clone(), nil
}

// EnsureStack creates a stack unless it exists.
func (s *store) EnsureStack(org, project, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stacks[resourceKey(org, project, name)] != nil {
		return nil
	}
	_, err := s.addStack(org, project, name, nil)
	return err
}

// addStack creates a stack and runs the cascade of its stack_created event. Callers hold s.mu.
func (s *store) addStack(org, project, name string, tags map[string]string) (*stack, error) {
	if err := validateNames("organization name", org, "project name", project, "stack name", name); err != nil {
		return nil, err
	}
	key := resourceKey(org, project, name)
	if s.stacks[key] != nil {
		return nil, errorf(http.StatusConflict, "Stack '%s' already exists", key)
	}
	st := &stack{id: s.newID(), org: org, project: project, name: name, tags: maps.Clone(tags), created: s.now(), running: -1}
	s.stacks[key] = st
	c := s.newCascade()
	c.queue = append(c.queue, stackLifecycleEvent("stack_created", "created", st))
	c.run()
	return st, nil
}

// Stack returns a copy of a stack.
func (s *store) Stack(org, project, name string) (stack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return stack{}, err
	}
	return st.clone(), nil
}

// DeleteStack removes a stack with its webhooks and deployment settings, and tells the organization's
// webhooks. Its deliveries and deployments stay in the logs.
func (s *store) DeleteStack(org, project, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return err
	}
	delete(s.stacks, resourceKey(st.org, st.project, st.name))
	delete(s.hooks, st.subject().Path())
	s.abandonDeploymentsLocked(st)
	s.abandonUpdateLocked(st)
	s.forgetReferencesLocked(st)
	c := s.newCascade()
	c.queue = append(c.queue, stackLifecycleEvent("stack_deleted", "deleted", st))
	c.run()
	return nil
}

// ListStacks returns up to limit stacks that match f, ordered by organization, project and stack name,
// and whether more follow.
func (s *store) ListStacks(f stackFilter, limit int) (page []stack, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var matches []*stack
	for _, st := range s.stacks {
		if f.matches(st) {
			matches = append(matches, st)
		}
	}
	slices.SortFunc(matches, func(a, b *stack) int { return compareStackCursors(a.cursor(), b.cursor()) })
	page = []stack{}
	for _, st := range matches[:min(limit, len(matches))] {
		page = append(page, st.clone())
	}
	return page, len(matches) > limit
}

// builtinTag reports whether a tag is one the service sets itself (pulumi:project, vcs:owner, ...),
// which cannot be deleted.
func builtinTag(name string) bool {
	return strings.HasPrefix(name, "pulumi:") || strings.HasPrefix(name, "vcs:")
}

func validateTagName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errorf(http.StatusBadRequest, "tag name must not be empty")
	}
	return nil
}

// changeTags runs change on a stack's tags under the lock. change gets a map it may modify, and the
// stack keeps it only when change succeeds, so a refused change leaves the tags as they were.
func (s *store) changeTags(org, project, name string, change func(tags map[string]string) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return err
	}
	tags := maps.Clone(st.tags)
	if tags == nil {
		tags = map[string]string{}
	}
	if err := change(tags); err != nil {
		return err
	}
	st.tags = tags
	return nil
}

// AddStackTag adds one tag, answering 400 when the stack has a tag of that name already.
func (s *store) AddStackTag(org, project, name, tag, value string) error {
	if err := validateTagName(tag); err != nil {
		return err
	}
	return s.changeTags(org, project, name, func(tags map[string]string) error {
		if _, ok := tags[tag]; ok {
			return errorf(http.StatusBadRequest, "tag %q already exists", tag)
		}
		tags[tag] = value
		return nil
	})
}

// ReplaceStackTags replaces every tag with the given ones. Built-in tags (pulumi:, vcs:) that the new
// set does not name are kept, since they cannot be deleted one at a time either.
func (s *store) ReplaceStackTags(org, project, name string, newTags map[string]string) error {
	for k := range newTags {
		if err := validateTagName(k); err != nil {
			return err
		}
	}
	return s.changeTags(org, project, name, func(tags map[string]string) error {
		for k := range tags {
			if !builtinTag(k) {
				delete(tags, k)
			}
		}
		maps.Copy(tags, newTags)
		return nil
	})
}

// UpdateStackTag changes the tag called tag to newName (empty: keep the name) and value. It answers 404
// when there is no such tag, and 400 for renaming a built-in tag or renaming onto another existing tag.
func (s *store) UpdateStackTag(org, project, name, tag, newName, value string) error {
	if newName == "" {
		newName = tag
	}
	return s.changeTags(org, project, name, func(tags map[string]string) error {
		if _, ok := tags[tag]; !ok {
			return errorf(http.StatusNotFound, "tag %q not found", tag)
		}
		if newName != tag {
			if builtinTag(tag) {
				return errorf(http.StatusBadRequest, "built-in tag %q cannot be renamed", tag)
			}
			if _, ok := tags[newName]; ok {
				return errorf(http.StatusBadRequest, "tag %q already exists", newName)
			}
			delete(tags, tag)
		}
		tags[newName] = value
		return nil
	})
}

// DeleteStackTag removes one tag: 404 when absent, 400 for a built-in tag.
func (s *store) DeleteStackTag(org, project, name, tag string) error {
	return s.changeTags(org, project, name, func(tags map[string]string) error {
		if _, ok := tags[tag]; !ok {
			return errorf(http.StatusNotFound, "tag %q not found", tag)
		}
		if builtinTag(tag) {
			return errorf(http.StatusBadRequest, "built-in tag %q cannot be deleted", tag)
		}
		delete(tags, tag)
		return nil
	})
}
