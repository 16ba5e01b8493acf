package query

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts"
)

// Types are the receipt types the exporter writes (docs/receipts.md §5).
var Types = receipts.Types

// ParseTypes accepts type names with or without the "obs_" prefix (the seed's `--type log_batch`) and rejects
// names no receipt has, so a typo is an error rather than an empty result.
func ParseTypes(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		full := n
		if !strings.HasPrefix(full, "obs_") {
			full = "obs_" + full
		}
		if !slices.Contains(Types, full) {
			return nil, fmt.Errorf("unknown receipt type %q (known: %s)", n, strings.Join(Types, ", "))
		}
		out = append(out, full)
	}
	return out, nil
}

// Filter selects receipts. Empty lists and zero times select everything; within a list any value matches,
// and every set criterion must hold.
type Filter struct {
	Types []string
	// From and To bound the receipt's time (Time) to [From, To).
	From, To time.Time
	// Overlap selects batch receipts whose window [start, end) overlaps [From, To] instead (correlate).
	Overlap bool
	// Nodes match an alert's node or any of nodes_reporting; Services likewise with service.
	Nodes, Services []string
	// Workspaces match the workspace id or the scroll's directory name.
	Workspaces []string
	// Instances match the replica name from the scroll's checkpoint origin.
	Instances []string
	// Expr, when set, must be true over the receipt's JSON fields.
	Expr *Expr
}

// Time is the time a receipt is about: its window start for batches, otherwise its event time (alert, trace
// end), otherwise when it was sealed.
func Time(r *receipts.Receipt) time.Time {
	s := r.Timestamp
	if r.Period != nil {
		s = r.Period.Start
	} else if r.EventTime != "" {
		s = r.EventTime
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// periodEnd is the end of a batch's window, or its Time for receipts without one.
func periodEnd(r *receipts.Receipt, start time.Time) time.Time {
	if r.Period == nil {
		return start
	}
	if t, err := time.Parse(time.RFC3339Nano, r.Period.End); err == nil {
		return t
	}
	return start
}

// selective reports whether the filter drops any receipt (else every line is decoded for output anyway).
func (f *Filter) selective() bool {
	return len(f.Types) > 0 || !f.From.IsZero() || !f.To.IsZero() || len(f.Nodes) > 0 || len(f.Services) > 0 ||
		len(f.Workspaces) > 0 || f.Expr != nil
}

// scrollMatches applies the criteria that depend on the scroll alone, so a scroll that cannot match is not
// read at all.
func (f *Filter) scrollMatches(s Scroll) bool {
	return len(f.Instances) == 0 || slices.Contains(f.Instances, s.Instance)
}

// matches applies every criterion but the expression to a parsed receipt.
func (f *Filter) matches(s Scroll, r *receipts.Receipt, t time.Time) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, r.Type) {
		return false
	}
	if !f.timeMatches(r, t) {
		return false
	}
	if len(f.Workspaces) > 0 && !slices.Contains(f.Workspaces, r.Workspace) && !slices.Contains(f.Workspaces, dirName(s.Dir)) {
		return false
	}
	if len(f.Nodes) > 0 && !anyOf(f.Nodes, r.Node, r.NodesReporting) {
		return false
	}
	if len(f.Services) > 0 && !anyOf(f.Services, r.Service, r.ServicesReporting) {
		return false
	}
	return true
}

func (f *Filter) timeMatches(r *receipts.Receipt, t time.Time) bool {
	if f.Overlap && r.Period != nil {
		end := periodEnd(r, t)
		return (f.From.IsZero() || end.After(f.From)) && (f.To.IsZero() || !t.After(f.To))
	}
	if f.Overlap {
		return (f.From.IsZero() || !t.Before(f.From)) && (f.To.IsZero() || !t.After(f.To))
	}
	return (f.From.IsZero() || !t.Before(f.From)) && (f.To.IsZero() || t.Before(f.To))
}

func dirName(dir string) string { return filepath.Base(dir) }

func anyOf(want []string, one string, many []string) bool {
	for _, w := range want {
		if w == one || slices.Contains(many, w) {
			return true
		}
	}
	return false
}
