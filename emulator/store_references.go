package emulator

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// stackRead records that a stack's program reads the outputs of another stack of its organization
// through a StackReference: the stack it reads, the version of that stack it saw, and the reader's own
// version when the read was recorded.
type stackRead struct {
	project, name string
	version       int
	readerVersion int
}

// StackReference is one entry of a stack's upstream or downstream references: a stack and a version.
// For an upstream reference, Version is the version of the upstream stack the reader saw; for a
// downstream one, the reader's version when it recorded the reference.
type StackReference struct {
	Org     string `json:"organization"`
	Project string `json:"routingProject"`
	Stack   string `json:"name"`
	Version int    `json:"version"`
}

// AddStackReference records that org/project/name reads upstreamProject/upstreamStack of the same
// organization, at the versions both stacks have now. Recording it again refreshes the versions. Both
// stacks must exist (404), and a stack cannot reference itself (400).
func (s *store) AddStackReference(org, project, name, upstreamProject, upstreamStack string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	reader, err := s.stackLocked(org, project, name)
	if err != nil {
		return err
	}
	up, err := s.stackLocked(org, upstreamProject, upstreamStack)
	if err != nil {
		return err
	}
	if up == reader {
		return errorf(http.StatusBadRequest, "Stack '%s/%s/%s' cannot reference itself", org, project, name)
	}
	read := stackRead{project: up.project, name: up.name, version: up.version, readerVersion: reader.version}
	if i := reader.readIndex(up.project, up.name); i >= 0 {
		reader.reads[i] = read
	} else {
		reader.reads = append(reader.reads, read)
	}
	// A program's references change only when it is updated: the stack list shows that.
	reader.lastUpdate = s.now()
	return nil
}

// RemoveStackReference forgets that org/project/name reads upstreamProject/upstreamStack: 404 when the
// reader does not exist or holds no such reference.
func (s *store) RemoveStackReference(org, project, name, upstreamProject, upstreamStack string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	reader, err := s.stackLocked(org, project, name)
	if err != nil {
		return err
	}
	i := reader.readIndex(upstreamProject, upstreamStack)
	if i < 0 {
		return errorf(http.StatusNotFound, "Stack '%s/%s/%s' holds no reference to '%s/%s/%s'",
			org, project, name, org, upstreamProject, upstreamStack)
	}
	reader.reads = slices.Delete(reader.reads, i, i+1)
	reader.lastUpdate = s.now()
	return nil
}

func (st *stack) readIndex(project, name string) int {
	return slices.IndexFunc(st.reads, func(r stackRead) bool { return r.project == project && r.name == name })
}

// UpstreamReferences lists the stacks whose outputs a stack reads, ordered by project and stack.
func (s *store) UpstreamReferences(org, project, name string) ([]StackReference, error) {
	return s.references(org, project, name, func(st *stack) []StackReference {
		out := []StackReference{}
		for _, r := range st.reads {
			out = append(out, StackReference{Org: st.org, Project: r.project, Stack: r.name, Version: r.version})
		}
		return out
	})
}

// DownstreamReferences lists the stacks that read a stack's outputs, ordered by project and stack.
func (s *store) DownstreamReferences(org, project, name string) ([]StackReference, error) {
	return s.references(org, project, name, func(st *stack) []StackReference {
		out := []StackReference{}
		for _, reader := range s.stacks {
			if reader.org != st.org {
				continue
			}
			if i := reader.readIndex(st.project, st.name); i >= 0 {
				out = append(out, StackReference{
					Org: reader.org, Project: reader.project, Stack: reader.name, Version: reader.reads[i].readerVersion,
				})
			}
		}
		return out
	})
}

// references finds a stack and lists, ordered by project and stack, the references collect gathers for
// it under the lock: the two directions of the references query differ only in collect.
func (s *store) references(org, project, name string, collect func(st *stack) []StackReference) (
	[]StackReference, error,
) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return nil, err
	}
	out := collect(st)
	sortReferences(out)
	return out, nil
}

func sortReferences(refs []StackReference) {
	slices.SortFunc(refs, func(a, b StackReference) int {
		return cmp.Or(strings.Compare(a.Project, b.Project), strings.Compare(a.Stack, b.Stack))
	})
}

// forgetReferencesLocked drops every reference to a stack being deleted; its own go with it. Callers
// hold s.mu.
func (s *store) forgetReferencesLocked(gone *stack) {
	for _, reader := range s.stacks {
		if reader.org != gone.org {
			continue
		}
		if i := reader.readIndex(gone.project, gone.name); i >= 0 {
			reader.reads = slices.Delete(reader.reads, i, i+1)
		}
	}
}

// replaceReadsLocked makes reads ("project/stack" of st's organization) st's upstream references, at
// the versions both stacks have now, as a successful update of its program records them. A stack that
// is gone by now, st itself or a repeat is left out. Callers hold s.mu.
func (s *store) replaceReadsLocked(st *stack, reads []string) {
	st.reads = nil
	for _, r := range reads {
		project, name, _ := strings.Cut(r, "/")
		up := s.stacks[resourceKey(st.org, project, name)]
		if up == nil || up == st || st.readIndex(up.project, up.name) >= 0 {
			continue
		}
		st.reads = append(st.reads, stackRead{project: up.project, name: up.name, version: up.version,
			readerVersion: st.version})
	}
}
