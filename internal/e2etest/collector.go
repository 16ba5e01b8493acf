// Package e2etest drives the built tfocol binary in end-to-end tests: it builds it (once, cached by make),
// starts it with shipped configs on free loopback ports, and offers an OTLP sink and OTLP senders to check
// what goes in and what comes out.
package e2etest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	rootOnce sync.Once
	rootDir  string

	buildOnce sync.Once
	buildErr  error
)

// RepoRoot returns the repository root (the directory of the github.com/tfocol/tfocol go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && bytes.HasPrefix(data, []byte("module github.com/tfocol/tfocol\n")) {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if rootDir == "" {
		t.Fatal("e2etest: repository root not found above the working directory")
	}
	return rootDir
}

// Binary returns the path of bin/tfocol, running `make build` first (a no-op when the binary is up to date,
// so a CI run that built it already does not build it again). TFOCOL_BIN overrides the path.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TFOCOL_BIN"); p != "" {
		return p
	}
	root := RepoRoot(t)
	buildOnce.Do(func() {
		cmd := exec.Command("make", "-s", "build")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(root, "bin", "tfocol")
}

var (
	portsMu  sync.Mutex
	usedPort = map[int]bool{}
)

// FreeAddr returns a loopback "127.0.0.1:port" that was free when asked and is not handed out twice by this
// process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("e2etest: no free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		portsMu.Lock()
		taken := usedPort[port]
		usedPort[port] = true
		portsMu.Unlock()
		if !taken {
			return "127.0.0.1:" + strconv.Itoa(port)
		}
	}
	t.Fatal("e2etest: could not find an unused port")
	return ""
}

// Ports are the listen addresses of one collector process. The shipped configs read them from the
// environment variables returned by Env.
type Ports struct {
	OTLPGRPC   string // TFOCOL_OTLP_GRPC_ENDPOINT
	OTLPHTTP   string // TFOCOL_OTLP_HTTP_ENDPOINT
	Edge       string // TFOCOL_EDGE_ENDPOINT (the gateway's edge API)
	Health     string // TFOCOL_HEALTH_ENDPOINT
	Prometheus string // TFOCOL_PROMETHEUS_ENDPOINT (spanmetrics scrape)
	Metrics    string // TFOCOL_METRICS_HOST/PORT (the collector's own telemetry)
	Status     string // TFOCOL_STATUS_ENDPOINT (the gateway's tfo_status)
}

// NewPorts allocates a free address for each listener.
func NewPorts(t testing.TB) Ports {
	return Ports{
		OTLPGRPC:   FreeAddr(t),
		OTLPHTTP:   FreeAddr(t),
		Edge:       FreeAddr(t),
		Health:     FreeAddr(t),
		Prometheus: FreeAddr(t),
		Metrics:    FreeAddr(t),
		Status:     FreeAddr(t),
	}
}

// Env returns the environment variables that point a shipped config at these ports.
func (p Ports) Env() map[string]string {
	host, port, _ := net.SplitHostPort(p.Metrics)
	return map[string]string{
		"TFOCOL_OTLP_GRPC_ENDPOINT":  p.OTLPGRPC,
		"TFOCOL_OTLP_HTTP_ENDPOINT":  p.OTLPHTTP,
		"TFOCOL_EDGE_ENDPOINT":       p.Edge,
		"TFOCOL_HEALTH_ENDPOINT":     p.Health,
		"TFOCOL_PROMETHEUS_ENDPOINT": p.Prometheus,
		"TFOCOL_METRICS_HOST":        host,
		"TFOCOL_METRICS_PORT":        port,
		"TFOCOL_STATUS_ENDPOINT":     p.Status,
	}
}

// Options say how to start a collector.
type Options struct {
	Name    string            // label for logs; defaults to the first config's base name
	Configs []string          // config files, relative to the repo root or absolute; merged in order
	Env     map[string]string // extra environment, applied last (overrides the ports and data dir)
	Args    []string          // extra command-line arguments (e.g. --set=...)
	DataDir string            // TFOCOL_DATA_DIR; a fresh temporary directory when empty
	Ports   *Ports            // listen addresses; fresh free ports when nil
	// ReadyTimeout bounds the wait for health_check to answer 200 (default 60s).
	ReadyTimeout time.Duration
	// NoHealthCheck: the config has no health_check, wait for the "Everything is ready" log line instead.
	NoHealthCheck bool
	// ShippedSampling: keep the gateway's shipped trace sampling for the upstream (10 % of ordinary traces,
	// 10 s decision wait). Without it the collector runs with TFOCOL_SAMPLING_PERCENTAGE=100 and
	// TFOCOL_SAMPLING_DECISION_WAIT=500ms (unless Env sets them), so that tests of other features see every
	// span upstream, soon; configs that do not sample ignore both.
	ShippedSampling bool
}

// Collector is one running tfocol process.
type Collector struct {
	Ports   Ports
	DataDir string

	t    testing.TB
	opts Options
	bin  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// Start runs tfocol with the options, waits until it is ready and stops it when the test ends. On test failure
// the process output is printed.
func Start(t testing.TB, opts Options) *Collector {
	t.Helper()
	if opts.Ports == nil {
		p := NewPorts(t)
		opts.Ports = &p
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Name == "" && len(opts.Configs) > 0 {
		opts.Name = strings.TrimSuffix(filepath.Base(opts.Configs[0]), filepath.Ext(opts.Configs[0]))
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	c := &Collector{Ports: *opts.Ports, DataDir: opts.DataDir, t: t, opts: opts, bin: Binary(t), logs: &syncBuffer{}}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", c.opts.Name, c.Logs())
		}
	})
	c.start(t)
	return c
}

// Command returns the arguments and environment the collector runs with (for running it by hand).
func (c *Collector) Command() (args []string, env []string) {
	root := RepoRoot(c.t)
	for _, cfg := range c.opts.Configs {
		if !filepath.IsAbs(cfg) {
			cfg = filepath.Join(root, cfg)
		}
		args = append(args, "--config", cfg)
	}
	args = append(args, c.opts.Args...)
	env = os.Environ()
	for k, v := range c.Ports.Env() {
		env = append(env, k+"="+v)
	}
	env = append(env, "TFOCOL_DATA_DIR="+c.DataDir, "TFOCOL_CONFIG_DIR="+filepath.Join(root, "configs"))
	if !c.opts.ShippedSampling {
		env = append(env, "TFOCOL_SAMPLING_PERCENTAGE=100", "TFOCOL_SAMPLING_DECISION_WAIT=500ms")
	}
	for k, v := range c.opts.Env {
		env = append(env, k+"="+v)
	}
	return args, env
}

func (c *Collector) start(t testing.TB) {
	t.Helper()
	args, env := c.Command()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = RepoRoot(t)
	cmd.Env = env
	cmd.Stdout = c.logs
	cmd.Stderr = c.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", c.opts.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()
	if err := c.waitReady(); err != nil {
		t.Fatalf("%s not ready: %v\n---- output ----\n%s", c.opts.Name, err, c.Logs())
	}
}

func (c *Collector) waitReady() error {
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return errors.New("process exited")
		default:
		}
		if c.opts.NoHealthCheck {
			if strings.Contains(c.logs.String(), "Everything is ready") {
				return nil
			}
		} else if resp, err := client.Get("http://" + c.Ports.Health + "/"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s", c.opts.ReadyTimeout)
}

// Running reports whether the process is alive.
func (c *Collector) Running() bool {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for a clean shutdown (SIGKILL after 30s).
func (c *Collector) Stop() { c.signal(syscall.SIGTERM, 30*time.Second) }

// Kill sends SIGKILL, as a crash would, and waits for the process to be gone.
func (c *Collector) Kill() { c.signal(syscall.SIGKILL, 10*time.Second) }

func (c *Collector) signal(sig syscall.Signal, grace time.Duration) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil || !c.Running() {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Restart stops the process (if running) and starts it again with the same options, ports and data.
func (c *Collector) Restart(t testing.TB) {
	t.Helper()
	c.Stop()
	c.start(t)
}

// Logs returns everything the process (all its runs) printed.
func (c *Collector) Logs() string { return c.logs.String() }

// OTLPHTTPURL is the base URL of the OTLP/HTTP receiver ("http://127.0.0.1:port").
func (c *Collector) OTLPHTTPURL() string { return "http://" + c.Ports.OTLPHTTP }

// ScrapeMetrics returns the collector's own telemetry in Prometheus text format.
func (c *Collector) ScrapeMetrics(t testing.TB) string {
	t.Helper()
	return Scrape(t, "http://"+c.Ports.Metrics+"/metrics")
}

// Scrape GETs a Prometheus endpoint and returns the body.
func Scrape(t testing.TB, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// Eventually polls cond every 50ms until it is true or the timeout passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if cond() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
