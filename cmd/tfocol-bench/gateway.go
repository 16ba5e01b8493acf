package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/tfocol/tfocol/internal/e2etest"
)

// envRef matches ${env:NAME} and ${env:NAME:-default} in a collector config.
var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// gatewayConfig is what the bench needs to know about the shipped gateway config to run it unmodified:
// which environment variables point its exporters at the sink and its key file at a minted key.
type gatewayConfig struct {
	Path string

	Authenticator string   // the tfo_auth extension the OTLP receiver authenticates with ("" = none)
	KeysFileEnv   string   // documented environment variable the tfo_auth key file path comes from
	KeysFileSet   string   // --set override when the key file path is not taken from a documented variable
	UpstreamEnv   []string // documented environment variables of the OTLP/gRPC exporters' endpoints
	UpstreamSet   []string // --set overrides (key) for OTLP/gRPC exporters whose endpoint is not from one
	Extensions    []string // service::extensions, to add pprof to in the profiling overlay
	Pipelines     []string // "name: receivers → processors → exporters", for the report
	MissingEnv    []string // variables referenced without default and unset here
	// Documented are the TFOCOL_* variables the header comment of the config documents: the only ones the
	// bench sets for the gateway (a reshaped config keeps working as long as its header is right).
	Documented map[string]bool
	// ReceiptDirs are the directory settings (unexpanded) of the receipt exporters that seal windows (mode
	// other than alerts), for the workspace-scaling mode.
	ReceiptDirs []string
}

type configFile struct {
	Receivers  map[string]map[string]any `yaml:"receivers"`
	Extensions map[string]map[string]any `yaml:"extensions"`
	Exporters  map[string]map[string]any `yaml:"exporters"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

func componentType(id string) string { typ, _, _ := strings.Cut(id, "/"); return typ }

func inspectGateway(path string) (*gatewayConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cf configFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	gc := &gatewayConfig{Path: path, Extensions: cf.Service.Extensions, Documented: documentedEnv(raw)}

	for id, rcv := range cf.Receivers {
		if componentType(id) != "otlp" {
			continue
		}
		for _, proto := range []string{"grpc", "http"} {
			if auth := lookup(rcv, "protocols", proto, "auth", "authenticator"); auth != "" {
				if componentType(auth) == "tfo_auth" {
					gc.Authenticator = auth
				}
			}
		}
	}
	if gc.Authenticator != "" {
		keys := lookup(cf.Extensions[gc.Authenticator], "keys_file")
		if m := envRef.FindStringSubmatch(keys); m != nil && gc.Documented[m[1]] {
			gc.KeysFileEnv = m[1]
		} else {
			gc.KeysFileSet = "extensions::" + gc.Authenticator + "::keys_file"
		}
	}

	ids := make([]string, 0, len(cf.Exporters))
	for id := range cf.Exporters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		switch componentType(id) {
		case "otlp", "otlp_grpc":
			m := envRef.FindStringSubmatch(lookup(cf.Exporters[id], "endpoint"))
			if m != nil && gc.Documented[m[1]] {
				if !slices.Contains(gc.UpstreamEnv, m[1]) {
					gc.UpstreamEnv = append(gc.UpstreamEnv, m[1])
				}
			} else {
				gc.UpstreamSet = append(gc.UpstreamSet, "exporters::"+id+"::endpoint")
			}
		case "otlphttp", "otlp_http":
			return nil, fmt.Errorf("%s: exporter %s: the bench sink speaks OTLP/gRPC only", path, id)
		case "receipt":
			if lookup(cf.Exporters[id], "mode") != "alerts" {
				if dir := lookup(cf.Exporters[id], "directory"); dir != "" {
					gc.ReceiptDirs = append(gc.ReceiptDirs, dir)
				}
			}
		}
	}
	if len(gc.UpstreamEnv)+len(gc.UpstreamSet) == 0 {
		return nil, fmt.Errorf("%s: no OTLP/gRPC exporter to point at the sink", path)
	}

	for name, p := range cf.Service.Pipelines {
		gc.Pipelines = append(gc.Pipelines, fmt.Sprintf("%s: [%s] → [%s] → [%s]", name,
			strings.Join(p.Receivers, ", "), strings.Join(p.Processors, ", "), strings.Join(p.Exporters, ", ")))
	}
	slices.Sort(gc.Pipelines)

	for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
		if m[2] == "" && os.Getenv(m[1]) == "" && !slices.Contains(gc.MissingEnv, m[1]) {
			gc.MissingEnv = append(gc.MissingEnv, m[1])
		}
	}
	return gc, nil
}

// documentedLine matches a variable in the header comment of a shipped config: "#   TFOCOL_NAME   meaning".
// "TFOCOL_METRICS_HOST/PORT" documents TFOCOL_METRICS_HOST and TFOCOL_METRICS_PORT.
var documentedLine = regexp.MustCompile(`^#\s+(TFOCOL_[A-Z0-9_]+)((?:/[A-Z0-9_]+)*)\s`)

// documentedEnv returns the TFOCOL_* variables documented in the comment block at the top of a config (up to its
// first non-comment line).
func documentedEnv(raw []byte) map[string]bool {
	doc := map[string]bool{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			break
		}
		m := documentedLine.FindStringSubmatch(line + " ")
		if m == nil {
			continue
		}
		doc[m[1]] = true
		if m[2] != "" {
			// Siblings replace the last "_" part: TFOCOL_METRICS_HOST/PORT → TFOCOL_METRICS_PORT.
			base := m[1][:strings.LastIndexByte(m[1], '_')+1]
			for _, sib := range strings.Split(m[2][1:], "/") {
				doc[base+sib] = true
			}
		}
	}
	return doc
}

// expandEnv resolves ${env:NAME} and ${env:NAME:-default} in s with env, falling back to the default.
func expandEnv(s string, env map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := env[m[1]]; ok {
			return v
		}
		return strings.TrimPrefix(m[2], ":-")
	})
}

// lookup returns the string at a path of nested YAML maps, or "".
func lookup(m map[string]any, path ...string) string {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	return s
}

// credentials are the headers an authenticated TelemetryFlow client sends (the Idempotency-Key is
// added per request by the generator).
type credentials struct {
	KeyID, KeySecret, AgentID, Workspace string
	KeysFile                             string // "" when the gateway does not authenticate
}

// agentID is the agent.id of the event fixtures, sent as X-TelemetryFlow-Agent-ID.
const agentID = "5f0c2d9e-8a41-4d3b-9c7e-2b6f1e0a4d11"

func (c credentials) headers() []string {
	h := []string{"x-telemetryflow-agent-id", c.AgentID}
	for k, v := range e2etest.KeyHeaders(c.KeyID, c.KeySecret, c.Workspace) {
		h = append(h, strings.ToLower(k), v)
	}
	return h
}

// mintKey creates a key file in dir with one key for a fresh workspace (`tfocol keys new`).
func mintKey(dir string) (c credentials, err error) {
	c = credentials{Workspace: uuid.NewString(), AgentID: agentID, KeysFile: filepath.Join(dir, "keys.yaml")}
	err = runWith("mint-key", dir, false, func(tb *runTB) {
		c.KeyID, c.KeySecret = e2etest.MintKey(tb, c.KeysFile, c.Workspace, "traces,metrics,logs")
	})
	return c, err
}

// placeholderCredentials are sent when the gateway does not authenticate, so both pipelines still
// receive the same requests.
func placeholderCredentials() credentials {
	return credentials{KeyID: "tfk_benchplaceholder", KeySecret: "tfs_benchplaceholder", AgentID: agentID,
		Workspace: uuid.NewString()}
}

// envFile reads KEY=value lines (configs/validate.env), skipping comments.
func envFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return env, sc.Err()
}
