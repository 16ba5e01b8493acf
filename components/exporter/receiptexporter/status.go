package receiptexporter

// reportPending tells the ingest status (internal/ingeststatus) how many windows are open per workspace: the
// windows not sealed yet, each waiting for its end + grace.
func (e *engine) reportPending() {
	byWorkspace := make(map[string]int, len(e.scrolls))
	for _, w := range e.windows {
		byWorkspace[w.workspace]++
	}
	e.status.PendingWindows(byWorkspace)
}
