package workspaceprocessor

import "sync"

// Metric labels for requests whose workspace is unknown or over the label budget.
const (
	workspaceLabelNone  = "_none"
	workspaceLabelOther = "_other"
)

// workspaceLabels hands out the `workspace` metric attribute: the first max distinct verified
// workspace ids keep their id, later ones share "_other", so a flood of made-up UUIDs cannot
// blow up the metrics' cardinality.
type workspaceLabels struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

func newWorkspaceLabels(maxWorkspaces int) *workspaceLabels {
	return &workspaceLabels{max: maxWorkspaces, seen: make(map[string]struct{})}
}

func (w *workspaceLabels) label(ws string) string {
	if w.max == 0 {
		return workspaceLabelNone
	}
	w.mu.RLock()
	_, ok := w.seen[ws]
	w.mu.RUnlock()
	if ok {
		return ws
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[ws]; ok {
		return ws
	}
	if len(w.seen) >= w.max {
		return workspaceLabelOther
	}
	w.seen[ws] = struct{}{}
	return ws
}
