package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/e2etest"
)

// The shipped monitoring: Grafana dashboards, Prometheus alert rules, and the metric names docs/operations.md
// tells operators to watch.
const (
	monDashboards = "deploy/grafana/*.json"
	monRules      = "deploy/prometheus/*.yaml"
	monDoc        = "docs/operations.md"
)

// Labels every scraped series has in Prometheus (added by the scrape) or that Grafana's variables use.
var monScrapeLabels = map[string]bool{"job": true, "instance": true}

// Every metric a shipped dashboard panel, template variable or alert rule queries, and every metric name
// docs/operations.md mentions, is emitted by bin/tfocol running the shipped gateway config (and, for the agent
// dashboard, configs/agent.yaml) under a load that takes every path they show (accepted OTLP over gRPC and
// HTTP, auth and workspace refusals, an Idempotency-Key duplicate, contract rejections, a failing then
// recovering upstream, sealed receipts, edge and Sirveo requests, a silent agent, a failed key reload), with
// every label the query matches or groups by. The rules file loads as Prometheus loads it, and its annotations
// print only labels their alert carries.
func TestMonitoringQueriesUseEmittedMetrics(t *testing.T) {
	root := e2etest.RepoRoot(t)
	refs := monDashboardRefs(t, root)
	refs = append(refs, monRuleRefs(t, root)...)
	refs = append(refs, monDocRefs(t, root)...)

	// Info logs kept 1 s and a sweep every second: sealed log batches are removed, so the retention metrics exist.
	e := edgeStart(t, map[string]string{"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1s",
		"TFOCOL_RECEIPT_RETAIN_LOGS": "1s", "TFOCOL_RECEIPT_RETENTION_SWEEP_INTERVAL": "1s"}, statusOverlay)
	// An agent (configs/agent.yaml) sending host metrics, a file's lines and heartbeats to the gateway.
	logFile := filepath.Join(t.TempDir(), "host.log")
	appendLines(t, logFile, "monitoring", 1, 3)
	agent := agentStart(t, e.gw, "http", t.TempDir(), logFile)
	monLoad(t, e)
	require.NoError(t, e2etest.ExportGRPC(context.Background(), agent.GRPC(nil), e2etest.GenTraces(2, map[string]string{"service.name": "local"})),
		"a local SDK's spans to the agent")

	// Some metrics appear asynchronously (seals, upstream retries, spanmetrics flushes, status snapshots, the
	// agent's first exports): scrape until every reference resolves, then report what still does not.
	var problems []string
	cats := map[string]monCatalog{}
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		cats[monGateway] = monScrape(t, "http://"+e.gw.Ports.Metrics+"/metrics", "http://"+e.gw.Ports.Prometheus+"/metrics")
		cats[monAgent] = monScrape(t, "http://"+agent.Ports.Metrics+"/metrics")
		cats[monEither] = monUnion(cats[monGateway], cats[monAgent])
		problems = monCheck(refs, cats)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(problems) > 0 {
		t.Errorf("%d references to metrics or labels bin/tfocol does not emit:\n  %s\ngateway emits:\n%s\nagent emits:\n%s",
			len(problems), strings.Join(problems, "\n  "), cats[monGateway], cats[monAgent])
	}
}

// monLoad drives every path the dashboards and alerts show.
func monLoad(t *testing.T, e *edgeEnv) {
	t.Helper()
	gw := e.gw
	// The upstream refuses the first exports: the forward consumer retries them from the log.
	gw.Upstream.FailNext(3, codes.Unavailable)

	ok := gw.Headers()
	for _, tgt := range []e2etest.Target{gw.GRPC(ok), gw.HTTP(ok)} {
		for _, data := range []any{
			// The password is masked by the data policy (redaction).
			e2etest.GenTraces(4, map[string]string{"service.name": "checkout", "db.password": "hunter2-hunter2"}),
			e2etest.GenMetrics(5, nil),
			e2etest.GenLogs(3, map[string]string{"service.name": "checkout"}),
		} {
			require.Equal(t, 200, monSend(t, tgt, data), "accepted %s %T", tgt.Protocol, data)
		}
	}

	// Event logs: valid events, heartbeats and contract rejections (event_router).
	fixtures, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for _, fx := range fixtures {
		require.NoError(t, fx.CopyTo(sl.LogRecords().AppendEmpty()))
		// One more agent, with a 1 s heartbeat interval: it turns silent within seconds.
		if fx.Name == "HostHeartbeat/valid" {
			body := maps.Clone(fx.Body.(map[string]any))
			body["intervalSeconds"] = 1
			fx.Body = body
			fx.Attributes = maps.Clone(fx.Attributes)
			fx.Attributes["agent.id"] = uuid.NewString()
			require.NoError(t, fx.CopyTo(sl.LogRecords().AppendEmpty()))
		}
	}
	require.Equal(t, 200, monSend(t, gw.GRPC(ok), ld), "events")

	// An Idempotency-Key duplicate, and a key the workspace processor refuses (400).
	keyed := gw.Headers()
	keyed["Idempotency-Key"] = uuid.NewString()
	batch := e2etest.GenLogs(2, nil)
	for range 2 {
		require.Equal(t, 200, monSend(t, gw.HTTP(keyed), batch), "keyed batch")
	}
	keyed["Idempotency-Key"] = strings.Repeat("k", 256)
	for _, data := range []any{e2etest.GenTraces(1, nil), e2etest.GenMetrics(1, nil), batch} {
		require.Equal(t, 400, monSend(t, gw.HTTP(keyed), data), "oversized Idempotency-Key, %T", data)
	}

	// Authentication refusals: a wrong secret (gRPC and HTTP), an unknown key, another workspace. They move
	// tfocol_auth_requests_total and nothing of the receiver's (tfo_auth answers before its pipeline runs), as
	// docs/operations.md and the dashboard's Authentication row say.
	refusedBefore, authBefore := monRefusals(t, gw)
	bad := e2etest.KeyHeaders(gw.KeyID, "tfs_wrong-secret-0123456789", gw.Workspace)
	unknown := e2etest.KeyHeaders("tfk_unknown", gw.KeySecret, gw.Workspace)
	forbidden := e2etest.KeyHeaders(gw.KeyID, gw.KeySecret, "00000000-0000-4000-8000-000000000000")
	for _, h := range []map[string]string{bad, unknown, forbidden} {
		for _, tgt := range []e2etest.Target{gw.GRPC(h), gw.HTTP(h)} {
			code := monSend(t, tgt, e2etest.GenTraces(1, nil))
			require.Contains(t, []int{401, 403}, code, "refused credentials over %s", tgt.Protocol)
		}
	}
	refusedAfter, authAfter := monRefusals(t, gw)
	require.Equal(t, refusedBefore, refusedAfter, "auth refusals counted in otelcol_receiver_refused_*")
	require.Equal(t, authBefore+6, authAfter, `tfocol_auth_requests_total{result!="accepted"} counts each auth refusal`)

	// The edge API: a Sirveo lifecycle event (accepted), a tampered checksum (flagged), and an unauthenticated
	// request (401).
	url := "/api/v1/sirveo/telemetry/" + gw.Workspace
	sirveo := map[string]string{"Authorization": "Bearer " + e.agentToken, "User-Agent": "Sirveo"}
	require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, url, sirveo, sirveoEvent("begin")).code)
	var tampered map[string]any
	require.NoError(t, json.Unmarshal(sirveoEvent("update"), &tampered))
	tampered["checksum"] = "0123456789abcdef"
	raw, _ := json.Marshal(tampered)
	require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, url, sirveo, raw).code)
	require.Equal(t, http.StatusUnauthorized, e.call(t, http.MethodPost, url, map[string]string{"User-Agent": "Sirveo"}, sirveoEvent("end")).code)

	// The ingest status endpoint refuses a request without credentials.
	resp, err := http.Get("http://" + gw.Ports.Status + "/v1/ingest-status")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "ingest status without credentials")

	// A key file that does not parse: the reload fails, the previous keys stay in use.
	require.NoError(t, os.WriteFile(gw.KeysFile, []byte("keys: [unterminated\n"), 0o600))

	// Everything accepted reaches the upstream once it stops refusing.
	e2etest.Eventually(t, 30*time.Second, func() bool { return gw.Upstream.LogRecordCount() > 0 && gw.Upstream.DataPointCount() > 0 },
		"upstream receives the forwarded logs and metrics")
}

// monRefusals returns the receiver's refused records (every signal) and tfo_auth's refusals.
func monRefusals(t *testing.T, gw *e2etest.Gateway) (receiver, auth float64) {
	t.Helper()
	metrics := gw.ScrapeMetrics(t)
	for _, signal := range []string{"spans", "metric_points", "log_records"} {
		n, _ := e2etest.MetricSum(t, metrics, "otelcol_receiver_refused_"+signal+"_total", nil)
		receiver += n
	}
	for _, result := range []string{"unauthenticated", "forbidden", "throttled"} {
		n, _ := e2etest.MetricSum(t, metrics, "tfocol_auth_requests_total", map[string]string{"result": result})
		auth += n
	}
	return receiver, auth
}

// monSend exports data and returns the HTTP status (gRPC codes mapped to theirs: 200 for OK).
func monSend(t *testing.T, tgt e2etest.Target, data any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if tgt.Protocol == "http" {
		res, err := e2etest.ExportHTTP(ctx, tgt, data)
		require.NoError(t, err)
		return res.Status
	}
	err := e2etest.ExportGRPC(ctx, tgt, data)
	switch status.Code(err) {
	case codes.OK:
		return 200
	case codes.InvalidArgument:
		return 400
	case codes.Unauthenticated:
		return 401
	case codes.PermissionDenied:
		return 403
	default:
		t.Fatalf("gRPC export: %v", err)
		return 0
	}
}

// monCatalog maps every series name bin/tfocol exposes to the label names it carries. A histogram family X
// is X_bucket (with le), X_sum and X_count, as Prometheus stores it.
type monCatalog map[string]map[string]bool

// monHistogram marks the family name of a histogram in a catalog ("X" of X_bucket): docs may name the family.
const monHistogram = "\x00histogram"

func (c monCatalog) add(name string, labels ...string) {
	if c[name] == nil {
		c[name] = map[string]bool{}
	}
	for _, l := range labels {
		c[name][l] = true
	}
}

func (c monCatalog) String() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(c)) {
		if c[name][monHistogram] {
			continue
		}
		fmt.Fprintf(&b, "  %s{%s}\n", name, strings.Join(slices.Sorted(maps.Keys(c[name])), ","))
	}
	return b.String()
}

// The collector a reference is about: a dashboard whose file name has "agent" in it is the agent's
// (configs/agent.yaml); everything else is the gateway's.
// docs/operations.md covers both, so a name it mentions must be emitted by either (monEither).
const (
	monGateway = "gateway"
	monAgent   = "agent"
	monEither  = "gateway or agent"
)

// monUnion is the catalog of everything a and b emit.
func monUnion(a, b monCatalog) monCatalog {
	u := monCatalog{}
	for _, c := range []monCatalog{a, b} {
		for name, labels := range c {
			u.add(name, slices.Collect(maps.Keys(labels))...)
		}
	}
	return u
}

// monScrape reads Prometheus endpoints (the collector's own telemetry; the gateway's spanmetrics) into one
// catalog.
func monScrape(t *testing.T, urls ...string) monCatalog {
	t.Helper()
	// Prometheus's own series for every scrape target (the rules alert on the gateway being down with it).
	cat := monCatalog{"up": {"job": true, "instance": true}}
	for _, url := range urls {
		tp := expfmt.NewTextParser(model.UTF8Validation)
		families, err := tp.TextToMetricFamilies(strings.NewReader(e2etest.Scrape(t, url)))
		require.NoError(t, err, url)
		for name, f := range families {
			for _, m := range f.GetMetric() {
				var labels []string
				for _, lp := range m.GetLabel() {
					labels = append(labels, lp.GetName())
				}
				switch {
				case m.Histogram != nil:
					cat.add(name, append(labels, monHistogram)...)
					cat.add(name+"_bucket", append(labels, "le")...)
					cat.add(name+"_sum", labels...)
					cat.add(name+"_count", labels...)
				case m.Summary != nil:
					cat.add(name, append(labels, "quantile")...)
					cat.add(name+"_sum", labels...)
					cat.add(name+"_count", labels...)
				default:
					cat.add(name, labels...)
				}
			}
		}
	}
	return cat
}

// monRef is one query (or doc mention) and what it needs from the scrape.
type monRef struct {
	where string
	role  string // monGateway or monAgent
	// selectors: each metric name with the label names its matchers use.
	selectors []monSelector
	// groups: label names an aggregation groups by, each needed on at least one metric of its operand.
	groups []monGroup
	// prefix: a doc mention like otelcol_receiver_refused_*: some emitted metric starts with it.
	prefix string
}

type monSelector struct {
	name   string
	nameRe *regexp.Regexp // {__name__=~"..."}: some emitted metric matches
	labels []string
	// family: a doc mention, which may name a histogram's family rather than a series.
	family bool
}

type monGroup struct {
	labels    []string
	selectors []monSelector
}

func monCheck(refs []monRef, cats map[string]monCatalog) []string {
	var problems []string
	for _, r := range refs {
		cat := cats[r.role]
		if r.prefix != "" {
			found := false
			for name := range cat {
				found = found || strings.HasPrefix(name, r.prefix)
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s: no metric named %s*", r.where, r.prefix))
			}
			continue
		}
		for _, s := range r.selectors {
			if s.nameRe != nil {
				var matched []string
				for name := range cat {
					if s.nameRe.MatchString(name) && !cat[name][monHistogram] {
						matched = append(matched, name)
					}
				}
				if len(matched) == 0 {
					problems = append(problems, fmt.Sprintf("%s: no metric matches __name__=~%q", r.where, s.nameRe))
				}
				continue
			}
			labels, ok := cat[s.name]
			if ok && labels[monHistogram] && !s.family {
				problems = append(problems, fmt.Sprintf("%s: %s is a histogram: query %s_bucket, _sum or _count", r.where, s.name, s.name))
				continue
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: metric %s", r.where, s.name))
				continue
			}
			for _, l := range s.labels {
				if !labels[l] && !monScrapeLabels[l] {
					problems = append(problems, fmt.Sprintf("%s: label %s on %s", r.where, l, s.name))
				}
			}
		}
		for _, g := range r.groups {
			for _, l := range g.labels {
				found := monScrapeLabels[l]
				for _, s := range g.selectors {
					for name, labels := range cat {
						if name == s.name || s.nameRe != nil && s.nameRe.MatchString(name) {
							found = found || labels[l]
						}
					}
				}
				if !found {
					problems = append(problems, fmt.Sprintf("%s: grouping label %s on none of the metrics aggregated", r.where, l))
				}
			}
		}
	}
	return problems
}

// Grafana's interval variables, replaced by a duration before a query is parsed as PromQL.
var monGrafanaIntervals = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

// monPromQL parses one PromQL expression into a reference.
func monPromQL(t *testing.T, where, expr string) monRef {
	t.Helper()
	expr = monGrafanaIntervals.ReplaceAllString(expr, "5m")
	parsed, err := parser.ParseExpr(expr)
	require.NoError(t, err, "%s: %s", where, expr)
	r := monRef{where: where}
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			r.selectors = append(r.selectors, monVectorSelector(n))
		case *parser.AggregateExpr:
			if n.Without || len(n.Grouping) == 0 {
				return nil
			}
			g := monGroup{labels: n.Grouping}
			parser.Inspect(n.Expr, func(inner parser.Node, _ []parser.Node) error {
				if vs, ok := inner.(*parser.VectorSelector); ok {
					g.selectors = append(g.selectors, monVectorSelector(vs))
				}
				return nil
			})
			r.groups = append(r.groups, g)
		}
		return nil
	})
	require.NotEmpty(t, r.selectors, "%s: %s selects no metric", where, expr)
	return r
}

func monVectorSelector(vs *parser.VectorSelector) monSelector {
	s := monSelector{name: vs.Name}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			if m.Type == labels.MatchRegexp {
				s.nameRe = regexp.MustCompile("^(?:" + m.Value + ")$")
			} else {
				s.name = m.Value
			}
			continue
		}
		s.labels = append(s.labels, m.Name)
	}
	return s
}

// Grafana's label_values(query, label) template variable query.
var monLabelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

func monDashboardRefs(t *testing.T, root string) []monRef {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, monDashboards))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards under %s", monDashboards)
	var refs []monRef
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var dash monDashboard
		require.NoError(t, json.Unmarshal(raw, &dash), f)
		base := filepath.Base(f)
		role := monGateway
		if strings.Contains(base, "agent") {
			role = monAgent
		}
		require.NotEmpty(t, dash.UID, "%s: uid", base)
		require.NotEmpty(t, dash.Title, "%s: title", base)

		// The datasource is a variable, so the dashboard imports into any Grafana.
		vars := map[string]monVariable{}
		for _, v := range dash.Templating.List {
			vars[v.Name] = v
		}
		require.Equal(t, "datasource", vars["datasource"].Type, "%s: a datasource variable named datasource", base)
		for _, v := range dash.Templating.List {
			if v.Type != "query" {
				continue
			}
			require.Equal(t, "${datasource}", v.Datasource.UID, "%s: variable %s uses ${datasource}", base, v.Name)
			var q struct {
				Query string `json:"query"`
			}
			require.NoError(t, json.Unmarshal(v.Query, &q), "%s: variable %s: query", base, v.Name)
			m := monLabelValues.FindStringSubmatch(q.Query)
			require.NotNil(t, m, "%s: variable %s: query %q is not label_values(metric, label)", base, v.Name, q.Query)
			r := monPromQL(t, fmt.Sprintf("%s variable %s", base, v.Name), m[1])
			r.role = role
			r.selectors[0].labels = append(r.selectors[0].labels, m[2])
			refs = append(refs, r)
		}

		ids := map[int]bool{}
		var targets int
		for _, p := range dash.Panels {
			require.False(t, ids[p.ID], "%s: panel id %d twice", base, p.ID)
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			require.NotEmpty(t, p.Targets, "%s: panel %q has no query", base, p.Title)
			require.Equal(t, "${datasource}", p.Datasource.UID, "%s: panel %q uses ${datasource}", base, p.Title)
			for _, tg := range p.Targets {
				targets++
				r := monPromQL(t, fmt.Sprintf("%s panel %q", base, p.Title), tg.Expr)
				r.role = role
				refs = append(refs, r)
			}
		}
		require.NotZero(t, targets, "%s: no queries", base)
	}
	return refs
}

type monDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []monVariable `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int           `json:"id"`
		Type       string        `json:"type"`
		Title      string        `json:"title"`
		Datasource monDatasource `json:"datasource"`
		Targets    []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

type monVariable struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Datasource monDatasource `json:"datasource"`
	// A string (datasource variables: the plugin) or {"query": "label_values(...)"} (query variables).
	Query json.RawMessage `json:"query"`
}

type monDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Annotations and labels every alert carries (docs/operations.md, Alerts).
var monRunbook = regexp.MustCompile(`^docs/operations\.md#[a-z0-9-]+$`)

func monRuleRefs(t *testing.T, root string) []monRef {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, monRules))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no rules under %s", monRules)
	anchors := monDocAnchors(t, root)
	var refs []monRef
	for _, f := range files {
		base := filepath.Base(f)
		// As Prometheus loads a rule file: strict fields, valid PromQL, templates that parse.
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation)
		require.Empty(t, errs, "%s does not load", base)
		require.NotEmpty(t, groups.Groups, base)
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				name := r.Alert
				if name == "" {
					name = r.Record
				}
				where := fmt.Sprintf("%s rule %s", base, name)
				if r.Alert != "" {
					require.NotZero(t, r.For, "%s: for:", where)
					require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "%s: severity label", where)
					require.NotEmpty(t, r.Annotations["summary"], "%s: summary", where)
					require.NotEmpty(t, r.Annotations["description"], "%s: description", where)
					rb := r.Annotations["runbook"]
					require.Regexp(t, monRunbook, rb, "%s: runbook", where)
					require.True(t, anchors[strings.TrimPrefix(rb, "docs/operations.md#")], "%s: runbook %s is no heading of %s", where, rb, monDoc)
				}
				ref := monPromQL(t, where, r.Expr)
				ref.role = monGateway
				refs = append(refs, ref)
				// An annotation may only print labels the alert's series carry (else it prints nothing).
				expr, err := parser.ParseExpr(r.Expr)
				require.NoError(t, err, where)
				if out, known := monOutputLabels(expr); known {
					for _, text := range r.Annotations {
						for _, m := range monAnnotationLabel.FindAllStringSubmatch(text, -1) {
							require.True(t, out[m[1]], "%s: an annotation prints $labels.%s, which the expression's result has not (it has %v)",
								where, m[1], slices.Sorted(maps.Keys(out)))
						}
					}
				}
			}
		}
	}
	return refs
}

var monAnnotationLabel = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)

// monOutputLabels returns the label names of an expression's result where the expression fixes them (an
// aggregation by labels, and what is built on one); known is false where they depend on the metric.
func monOutputLabels(expr parser.Expr) (names map[string]bool, known bool) {
	switch e := expr.(type) {
	case *parser.ParenExpr:
		return monOutputLabels(e.Expr)
	case *parser.AggregateExpr:
		if e.Without || e.Op == parser.TOPK || e.Op == parser.BOTTOMK {
			return nil, false
		}
		out := map[string]bool{}
		for _, l := range e.Grouping {
			out[l] = true
		}
		return out, true
	case *parser.Call:
		for _, arg := range e.Args {
			if arg.Type() == parser.ValueTypeVector {
				out, known := monOutputLabels(arg)
				if known && e.Func.Name == "histogram_quantile" {
					delete(out, "le")
				}
				return out, known
			}
		}
		return nil, false
	case *parser.BinaryExpr:
		lhs, rhs := e.LHS.Type() == parser.ValueTypeVector, e.RHS.Type() == parser.ValueTypeVector
		switch {
		case lhs && rhs && e.VectorMatching != nil && e.VectorMatching.Card == parser.CardOneToMany:
			return monOutputLabels(e.RHS)
		case lhs:
			return monOutputLabels(e.LHS)
		case rhs:
			return monOutputLabels(e.RHS)
		}
	}
	return nil, false
}

// monDocAnchors are the GitHub anchors of the headings of docs/operations.md.
func monDocAnchors(t *testing.T, root string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, monDoc))
	require.NoError(t, err)
	anchors := map[string]bool{}
	strip := regexp.MustCompile("[^a-z0-9 _-]")
	for _, line := range strings.Split(string(raw), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[strings.ReplaceAll(strip.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return anchors
}

// A metric name in docs/operations.md, inside backticks, optionally with labels: `name`, `name{a, b}`,
// `name{a="x"}` or a family `prefix_*`.
var monDocMetric = regexp.MustCompile("`((?:otelcol|tfocol|traces_span_metrics)_[a-z0-9_]*)(\\*)?(?:\\{([^}`]*)\\})?[^`]*`")
var monDocLabel = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)`)

func monDocRefs(t *testing.T, root string) []monRef {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, monDoc))
	require.NoError(t, err)
	var refs []monRef
	for i, line := range strings.Split(string(raw), "\n") {
		for _, m := range monDocMetric.FindAllStringSubmatch(line, -1) {
			where := fmt.Sprintf("%s:%d `%s`", monDoc, i+1, strings.Trim(m[0], "`"))
			if m[2] == "*" {
				refs = append(refs, monRef{where: where, role: monEither, prefix: m[1]})
				continue
			}
			s := monSelector{name: m[1], family: true}
			if m[3] != "" {
				for _, part := range strings.Split(m[3], ",") {
					if l := monDocLabel.FindStringSubmatch(part); l != nil {
						s.labels = append(s.labels, l[1])
					}
				}
			}
			refs = append(refs, monRef{where: where, role: monEither, selectors: []monSelector{s}})
		}
	}
	require.NotEmpty(t, refs, "%s mentions no metric", monDoc)
	return refs
}
