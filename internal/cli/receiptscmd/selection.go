package receiptscmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

// selection is the flags list, show, query and correlate share to pick scrolls and receipts.
type selection struct {
	dirs       []string
	origin     string
	types      []string
	from, to   string
	last       string
	nodes      []string
	services   []string
	workspaces []string
	instances  []string
	filter     string
	// now is the clock --last counts back from (a test sets it).
	now func() time.Time
}

func (s *selection) addDirFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&s.dirs, "dir", []string{"."}, "scroll or exporter directory; repeat for several (e.g. one per replica)")
	fs.StringVar(&s.origin, "origin", receipts.DefaultOriginPrefix, "exporter origin setting: tells the replica (instance) name in each ROOT origin")
}

func (s *selection) addTimeFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.from, "from", "", "earliest time (inclusive), RFC 3339 or YYYY-MM-DD")
	fs.StringVar(&s.to, "to", "", "latest time (exclusive), RFC 3339 or YYYY-MM-DD")
}

func (s *selection) addQueryFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.last, "last", "", "only the last DURATION up to now, e.g. 24h, 7d, 2w (instead of --from)")
	fs.StringVar(&s.filter, "filter", "", `field expression, e.g. 'log_counts.error > 0', 'duration_ms > 5000', 'status != ok' (docs/receipts-cli.md)`)
}

func (s *selection) addWhereFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&s.nodes, "node", nil, "host.name: an alert's node or one of nodes_reporting (several: a,b)")
	fs.StringSliceVar(&s.services, "service", nil, "service.name: an alert's service or one of services_reporting (several: a,b)")
	fs.StringSliceVar(&s.workspaces, "workspace", nil, "workspace id or scroll directory name (several: a,b)")
	fs.StringSliceVar(&s.instances, "instance", nil, "replica name from the checkpoint origin (several: a,b)")
}

// parseTimeFlag reads RFC 3339 (with or without seconds) or a date (UTC midnight).
func parseTimeFlag(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 or YYYY-MM-DD", s)
}

// parseDuration reads Go durations and the day, week and year units of --last 7d (Prometheus syntax).
func parseDuration(flag, s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--%s %q: want a positive duration such as 15m, 24h, 7d or 2w", flag, s)
	}
	return time.Duration(d), nil
}

// buildFilter turns the flags into a query filter.
func (s *selection) buildFilter() (query.Filter, error) {
	var f query.Filter
	var err error
	if f.Types, err = query.ParseTypes(s.types); err != nil {
		return f, err
	}
	if f.From, err = parseTimeFlag(s.from); err != nil {
		return f, err
	}
	if f.To, err = parseTimeFlag(s.to); err != nil {
		return f, err
	}
	if s.last != "" {
		if s.from != "" {
			return f, errors.New("--last and --from both set: use one")
		}
		d, err := parseDuration("last", s.last)
		if err != nil {
			return f, err
		}
		now := time.Now
		if s.now != nil {
			now = s.now
		}
		f.From = now().Add(-d)
	}
	if s.filter != "" {
		if f.Expr, err = query.CompileExpr(s.filter); err != nil {
			return f, err
		}
	}
	f.Nodes, f.Services, f.Workspaces, f.Instances = s.nodes, s.services, s.workspaces, s.instances
	return f, nil
}

// scan finds the scrolls and returns the receipts f keeps, in time order; notes go to stderr.
func (s *selection) scan(cmd *cobra.Command, f query.Filter, keepRaw bool) ([]query.Match, error) {
	scrolls, err := query.FindScrolls(s.dirs, s.origin)
	if err != nil {
		return nil, err
	}
	return query.Scan(scrolls, query.Options{Filter: f, KeepRaw: keepRaw, Warn: func(msg string) {
		fmt.Fprintln(cmd.ErrOrStderr(), "note:", msg)
	}})
}
