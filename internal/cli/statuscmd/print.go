package statuscmd

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tfocol/tfocol/internal/ingeststatus"
)

func printOutput(w io.Writer, out *Output) {
	printEngine(w, out.Engine)
	rep := out.Ingest
	fmt.Fprintf(w, "\nINGEST  last %d h (since %s), scope %s, counting since %s\n", rep.Hours, stamp(rep.From), rep.Scope, stamp(rep.CountingSince))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKSPACE\tBATCHES\tRECORDS\tEVENTS\tREJECTED\tDUPLICATES\tHEARTBEATS\tSEALED\tPENDING\tLAST BATCH")
	row := func(name string, t ingeststatus.Totals, last *time.Time) {
		lb := "-"
		if last != nil {
			lb = stamp(*last)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", name, t.Batches, t.Records, t.Events, t.Rejections,
			t.Duplicates, t.Heartbeats, t.ReceiptsSealed, t.WindowsPending, lb)
	}
	for _, ws := range rep.Workspaces {
		row(ws.Workspace, ws.Totals, ws.LastBatchAt)
	}
	if len(rep.Workspaces) != 1 {
		row("TOTAL", rep.Totals, nil)
	}
	_ = tw.Flush()
	printRejections(w, rep)
	printAgents(w, rep)
	printInstances(w, rep)
	printUpstream(w, rep.Upstream)
}

func printEngine(w io.Writer, e *ingeststatus.EngineStatus) {
	fmt.Fprintf(w, "ENGINE  %s  %s %s (commit %s, built %s)  instance %s  up %s\n", strings.ToUpper(e.Status), e.Engine,
		e.Version, e.Build.Commit, e.Build.Time, e.InstanceID, time.Duration(e.UptimeSeconds)*time.Second)
	for _, r := range e.Reasons {
		where := r.Kind + " " + r.Component
		if len(r.Pipelines) > 0 {
			where += " [" + strings.Join(r.Pipelines, ", ") + "]"
		}
		fmt.Fprintf(w, "  %s: %s since %s: %s\n", where, r.Status, stamp(r.Since), r.Error)
	}
}

func printRejections(w io.Writer, rep *ingeststatus.Report) {
	if !slices.ContainsFunc(rep.Workspaces, func(ws ingeststatus.WorkspaceStatus) bool { return len(ws.RejectionsByType) > 0 }) {
		return
	}
	fmt.Fprintln(w, "\nREJECTIONS")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKSPACE\tEVENT TYPE\tCOUNT\tREASON")
	for _, ws := range rep.Workspaces {
		for _, typ := range slices.Sorted(maps.Keys(ws.RejectionsByType)) {
			rj := ws.RejectionsByType[typ]
			for _, reason := range slices.Sorted(maps.Keys(rj.Reasons)) {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ws.Workspace, typ, rj.Reasons[reason], reason)
			}
		}
	}
	_ = tw.Flush()
}

func printAgents(w io.Writer, rep *ingeststatus.Report) {
	fmt.Fprintf(w, "\nAGENTS  %d alive, %d silent, %d stopped\n", rep.AgentsByState[ingeststatus.StateAlive],
		rep.AgentsByState[ingeststatus.StateSilent], rep.AgentsByState[ingeststatus.StateStopped])
	if len(rep.Agents) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKSPACE\tHOST\tINSTANCE\tVERSION\tSTATE\tLAST HEARTBEAT\tREASON\tINTERVAL")
	for _, a := range rep.Agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Workspace, dash(a.HostName), a.InstanceID, dash(a.AgentVersion),
			a.State, stamp(a.LastHeartbeatAt), a.LastReason, time.Duration(a.IntervalSeconds)*time.Second)
	}
	_ = tw.Flush()
}

func printInstances(w io.Writer, rep *ingeststatus.Report) {
	if len(rep.Instances) == 0 {
		return
	}
	fmt.Fprintf(w, "\nINSTANCES  %d\n", len(rep.Instances))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKSPACE\tSERVICE\tINSTANCE\tNAME\tVERSION\tCOMMIT\tLICENCE\tPHASE\tLAST SEEN\tREASON\tCHECKSUM")
	for _, i := range rep.Instances {
		licence := "-"
		if i.LicenseValid != nil {
			licence = map[bool]string{true: "valid", false: "INVALID"}[*i.LicenseValid]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Workspace, dash(i.Service), i.InstanceID, dash(i.CustomID),
			dash(i.Build.Version), dash(i.Build.Commit), licence, i.LastPhase, stamp(i.LastSeenAt), i.LastReason, dash(i.ChecksumStatus))
	}
	_ = tw.Flush()
}

func printUpstream(w io.Writer, up ingeststatus.Upstream) {
	fmt.Fprintf(w, "\nUPSTREAM  %d entries pending (%d bytes), %d failed deliveries in 24 h (retried from the log)\n",
		up.PendingEntries, up.PendingBytes, up.Failures)
	if up.Log != nil {
		state := "accepting"
		if up.Log.Refusing {
			state = "REFUSING appends"
		}
		fmt.Fprintf(w, "durable log: %d of %d bytes, %s\n", up.Log.Bytes, up.Log.MaxBytes, state)
	}
	if len(up.Consumers) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tLAG\tLAG BYTES\tFAILURES\tFAILING SINCE")
	for _, c := range up.Consumers {
		since := "-"
		if c.FailingSince != nil {
			since = stamp(*c.FailingSince)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", c.Name, c.LagEntries, c.LagBytes, c.Failures, since)
	}
	_ = tw.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
