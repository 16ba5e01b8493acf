package statuscmd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// client reads the status endpoint with the caller's credentials.
type client struct {
	base    string
	headers http.Header
	http    *http.Client
}

func newClient(o options, tokenFileGiven bool) (*client, error) {
	base := o.endpoint
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--endpoint %q: want host:port or a URL", o.endpoint)
	}
	c := &client{base: strings.TrimSuffix(u.String(), "/"), headers: http.Header{}, http: &http.Client{Timeout: o.timeout}}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no certificate", o.caFile)
		}
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	if err := c.credentials(o, tokenFileGiven); err != nil {
		return nil, err
	}
	return c, nil
}

// credentials picks the admin token, else an API key, else an enrollment token (see the command's help).
func (c *client) credentials(o options, tokenFileGiven bool) error {
	if o.workspace != "" {
		c.headers.Set(requestcontract.HeaderWorkspaceID, o.workspace)
	}
	tok, err := readSecretFile(o.tokenFile)
	switch {
	case err == nil:
		c.headers.Set("Authorization", "Bearer "+tok)
		return nil
	case tokenFileGiven:
		return fmt.Errorf("admin token: %w", err)
	}
	if id, secret := os.Getenv("TELEMETRYFLOW_API_KEY_ID"), os.Getenv("TELEMETRYFLOW_API_KEY_SECRET"); id != "" && secret != "" {
		c.headers.Set("X-TelemetryFlow-Key-ID", id)
		c.headers.Set("X-TelemetryFlow-Key-Secret", secret)
		return nil
	}
	if f := os.Getenv("TELEMETRYFLOW_TOKEN_FILE"); f != "" {
		tok, err := readSecretFile(f)
		if err != nil {
			return fmt.Errorf("enrollment token: %w", err)
		}
		c.headers.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

func (c *client) engineStatus() (*ingeststatus.EngineStatus, error) {
	doc := &ingeststatus.EngineStatus{}
	// 503 carries the document of a degraded engine.
	return doc, c.get("/.well-known/engine-status", doc, http.StatusOK, http.StatusServiceUnavailable)
}

func (c *client) ingestStatus(workspace string) (*ingeststatus.Report, error) {
	path := ingeststatus.Path
	if workspace != "" {
		path += "?workspace=" + url.QueryEscape(workspace)
	}
	rep := &ingeststatus.Report{}
	return rep, c.get(path, rep, http.StatusOK)
}

func (c *client) get(path string, into any, okCodes ...int) error {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header = c.headers.Clone()
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	ok := false
	for _, code := range okCodes {
		ok = ok || resp.StatusCode == code
	}
	if !ok {
		var e ingeststatus.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("GET %s: %d: %s", path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return errors.Join(fmt.Errorf("GET %s: not a status document", path), err)
	}
	return nil
}
