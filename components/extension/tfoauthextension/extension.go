package tfoauthextension

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/components/extension/tfoauthextension/internal/filewatch"
	"github.com/tfocol/tfocol/components/extension/tfoauthextension/internal/metadata"
	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
)

var (
	_ extension.Extension      = (*authExtension)(nil)
	_ extensionauth.Server     = (*authExtension)(nil)
	_ extensionauth.HTTPClient = (*authExtension)(nil)
	_ extensionauth.GRPCClient = (*authExtension)(nil)
)

// Sources of credential files, as reported in the reload metrics.
const (
	sourceKeys          = "keys"
	sourceJWTHMACSecret = "jwt_hmac_secret"
	sourceJWTPublicKeys = "jwt_public_keys"
	sourceJWTTokens     = "jwt_tokens"
	sourceTokenFile     = "token_file" // client side: the agent's enrollment token
)

// optionalAtStart are sources whose file may be missing when the collector starts: the shipped gateway enables
// enrollment tokens before `tfocol tokens keygen` has created the public keys file, and accepts no token until
// it appears (it is watched like the others).
var optionalAtStart = map[string]bool{sourceJWTPublicKeys: true, sourceJWTTokens: true}

type authExtension struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time

	keys     atomic.Pointer[keyfile.Index]   // nil when keys_file is not configured
	tokens   atomic.Pointer[tokenfile.Index] // nil until a jwt.tokens_file is loaded
	bearer   atomic.Pointer[string]          // client side: "Bearer <token>" from token_file
	jwt      *jwtVerifier                    // nil when jwt is not configured
	throttle *throttle                       // nil when throttling is off

	// files maps each watched path to its source and the digest of the content last seen (loaded or rejected),
	// so an unchanged file is not parsed again and a broken one is reported once.
	files   map[string]*watchedFile
	watcher *filewatch.Watcher

	lastRefusalLog atomic.Int64 // client side: unix nanos of the last "credentials refused" warning
	// credState is the client side's last verdict of the server on its credentials: credUnknown until the first
	// answer, then credValid (any answer but 401/403, Unauthenticated, PermissionDenied) or credRefused.
	credState atomic.Int32
}

type watchedFile struct {
	source string
	digest [sha256.Size]byte
	seen   bool
}

func newAuthExtension(cfg *Config, set component.TelemetrySettings) (*authExtension, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	e := &authExtension{cfg: cfg, logger: set.Logger, telemetry: tb, now: time.Now, files: map[string]*watchedFile{}}
	if e.throttle, err = newThrottle(cfg.Throttle); err != nil {
		return nil, err
	}
	if cfg.KeysFile != "" {
		e.files[cfg.KeysFile] = &watchedFile{source: sourceKeys}
	}
	if cfg.JWT.HasValue() {
		jc := cfg.JWT.Get()
		if e.jwt, err = newJWTVerifier(*jc, func() time.Time { return e.now() }); err != nil {
			return nil, err
		}
		if jc.HMACSecretFile != "" {
			e.files[jc.HMACSecretFile] = &watchedFile{source: sourceJWTHMACSecret}
		}
		if jc.PublicKeysFile != "" {
			e.files[jc.PublicKeysFile] = &watchedFile{source: sourceJWTPublicKeys}
		}
		if jc.TokensFile != "" {
			e.files[jc.TokensFile] = &watchedFile{source: sourceJWTTokens}
		}
	}
	if cfg.TokenFile != "" {
		e.files[cfg.TokenFile] = &watchedFile{source: sourceTokenFile}
	}
	return e, nil
}

// Start loads the credential files (failing start if one is unusable) and starts watching them.
func (e *authExtension) Start(context.Context, component.Host) error {
	if len(e.files) == 0 {
		return nil
	}
	paths := make([]string, 0, len(e.files))
	for path, wf := range e.files {
		if err := e.reload(path); err != nil {
			if optionalAtStart[wf.source] && errors.Is(err, fs.ErrNotExist) {
				e.logger.Warn("Enrollment-token file does not exist yet; it is loaded when it appears",
					zap.String("file", path), zap.String("source", wf.source))
			} else {
				return err
			}
		}
		paths = append(paths, path)
	}
	e.watcher = filewatch.New(e.logger, paths, e.cfg.ReloadInterval, func(path string) {
		if err := e.reload(path); err != nil {
			e.logger.Error("Credential file could not be loaded; still using the previous credentials",
				zap.String("file", path), zap.Error(err))
		}
	})
	return e.watcher.Start()
}

// Shutdown stops watching. Requests in flight keep the credential set they loaded.
func (e *authExtension) Shutdown(context.Context) error {
	if e.watcher != nil {
		e.watcher.Stop()
	}
	return nil
}

// reload reads path and, if its content changed, parses it and swaps it in atomically. On error the previous
// credentials stay in place. Called from Start and then only from the watcher goroutine.
func (e *authExtension) reload(path string) error {
	wf := e.files[path]
	data, readErr := os.ReadFile(path)
	digest := sha256.Sum256(data)
	if readErr != nil {
		// A missing or unreadable file is reported once per distinct error, not on every poll.
		digest = sha256.Sum256([]byte(readErr.Error()))
	}
	if wf.seen && digest == wf.digest {
		return nil
	}
	wf.seen, wf.digest = true, digest
	if readErr != nil {
		return e.reloadFailed(wf, readErr)
	}

	switch wf.source {
	case sourceKeys:
		f, err := keyfile.Parse(data)
		if err != nil {
			return e.reloadFailed(wf, fmt.Errorf("%s: %w", path, err))
		}
		idx, err := keyfile.NewIndex(f)
		if err != nil {
			return e.reloadFailed(wf, fmt.Errorf("%s: %w", path, err))
		}
		e.keys.Store(idx)
		e.logger.Info("Loaded API keys", zap.String("file", path), zap.Int("keys", idx.Len()))
	case sourceJWTHMACSecret:
		secret := bytes.TrimSpace(data)
		if len(secret) < minHMACSecretLen {
			return e.reloadFailed(wf, fmt.Errorf("%s: HS256 secret must be at least %d bytes", path, minHMACSecretLen))
		}
		e.jwt.setHMACSecret(bytes.Clone(secret))
		e.logger.Info("Loaded JWT HS256 secret", zap.String("file", path))
	case sourceJWTPublicKeys:
		eds, rsas, err := parsePublicKeys(data)
		if err != nil {
			return e.reloadFailed(wf, fmt.Errorf("%s: %w", path, err))
		}
		e.jwt.setPublicKeys(eds, rsas)
		e.logger.Info("Loaded JWT public keys", zap.String("file", path), zap.Int("ed25519", len(eds)), zap.Int("rsa", len(rsas)))
	case sourceJWTTokens:
		st, err := tokenfile.Parse(data)
		if err != nil {
			return e.reloadFailed(wf, fmt.Errorf("%s: %w", path, err))
		}
		idx := tokenfile.NewIndex(st)
		e.tokens.Store(idx)
		e.logger.Info("Loaded enrollment-token state", zap.String("file", path), zap.Int("tokens", idx.Len()))
	case sourceTokenFile:
		token := string(bytes.TrimSpace(data))
		// The error names the file only: never the token.
		if token == "" || len(token) > maxTokenLen || strings.ContainsAny(token, " \t\r\n") {
			return e.reloadFailed(wf, fmt.Errorf("%s: want one enrollment token (a JWT) and nothing else", path))
		}
		bearer := "Bearer " + token
		e.bearer.Store(&bearer)
		e.logger.Info("Loaded enrollment token", zap.String("file", path))
	}
	e.telemetry.TfocolAuthKeyReloads.Add(context.Background(), 1, sourceAttr(wf.source))
	return nil
}

func (e *authExtension) reloadFailed(wf *watchedFile, err error) error {
	e.telemetry.TfocolAuthKeyReloadFailures.Add(context.Background(), 1, sourceAttr(wf.source))
	return err
}

func sourceAttr(source string) metric.AddOption {
	return metric.WithAttributes(attribute.String("source", source))
}
