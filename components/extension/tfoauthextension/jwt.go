package tfoauthextension

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tfocol/tfocol/internal/principal"
)

// maxTokenLen bounds the token we are willing to parse or hash.
const maxTokenLen = 8 << 10

const minHMACSecretLen = 32

// jwtKeys is one loaded generation of verification keys; replaced wholesale on reload.
type jwtKeys struct {
	hmac    []byte
	ed25519 []ed25519.PublicKey
	rsa     []*rsa.PublicKey
}

// verifiedToken is what a valid token grants, cached by the token's SHA-256 so repeat requests skip the
// signature check. Time claims are re-checked on every use.
type verifiedToken struct {
	id        string // jti, checked against the tokens file
	subject   string
	workspace string
	scopes    []string
	roles     []string
	expiresAt time.Time
	notBefore time.Time // zero when the token has no nbf
}

type tokenResult uint8

const (
	tokenValid tokenResult = iota
	tokenInvalid
	tokenExpired
	tokenNotYetValid
	tokenBadClaims
)

type jwtVerifier struct {
	cfg   JWTConfig
	now   func() time.Time
	keys  atomic.Pointer[jwtKeys]
	cache *lru.Cache[[sha256.Size]byte, *verifiedToken]
}

func newJWTVerifier(cfg JWTConfig, now func() time.Time) (*jwtVerifier, error) {
	v := &jwtVerifier{cfg: cfg, now: now}
	if cfg.CacheSize > 0 {
		c, err := lru.New[[sha256.Size]byte, *verifiedToken](cfg.CacheSize)
		if err != nil {
			return nil, err
		}
		v.cache = c
	}
	v.keys.Store(&jwtKeys{})
	return v, nil
}

// setHMACSecret and setPublicKeys install a new key generation and drop cached verdicts made with the old one.
func (v *jwtVerifier) setHMACSecret(secret []byte) {
	k := *v.keys.Load()
	k.hmac = secret
	v.keys.Store(&k)
	v.purge()
}

func (v *jwtVerifier) setPublicKeys(eds []ed25519.PublicKey, rsas []*rsa.PublicKey) {
	k := *v.keys.Load()
	k.ed25519, k.rsa = eds, rsas
	v.keys.Store(&k)
	v.purge()
}

func (v *jwtVerifier) purge() {
	if v.cache != nil {
		v.cache.Purge()
	}
}

// verify checks a token's signature and claims.
func (v *jwtVerifier) verify(token string) (*verifiedToken, tokenResult) {
	if len(token) > maxTokenLen {
		return nil, tokenInvalid
	}
	now := v.now()
	var digest [sha256.Size]byte
	if v.cache != nil {
		digest = sha256.Sum256([]byte(token))
		if vt, ok := v.cache.Get(digest); ok {
			return vt, v.checkTimes(vt, now)
		}
	}
	vt, res := v.parse(token, now)
	if res == tokenValid && v.cache != nil {
		v.cache.Add(digest, vt)
	}
	return vt, res
}

func (v *jwtVerifier) checkTimes(vt *verifiedToken, now time.Time) tokenResult {
	skew := v.cfg.ClockSkew
	if !now.Before(vt.expiresAt.Add(skew)) {
		return tokenExpired
	}
	if !vt.notBefore.IsZero() && now.Add(skew).Before(vt.notBefore) {
		return tokenNotYetValid
	}
	return tokenValid
}

func (v *jwtVerifier) parse(token string, now time.Time) (*verifiedToken, tokenResult) {
	keys := v.keys.Load()
	var methods []string
	if len(keys.hmac) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if len(keys.ed25519) > 0 {
		methods = append(methods, jwt.SigningMethodEdDSA.Alg())
	}
	if len(keys.rsa) > 0 {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	if len(methods) == 0 {
		return nil, tokenInvalid
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(v.cfg.ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if v.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.cfg.Audience))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// The method was already checked against WithValidMethods; pick keys of the matching type only, so an
		// RSA public key can never be used as an HMAC secret.
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			return keys.hmac, nil
		case *jwt.SigningMethodEd25519:
			set := jwt.VerificationKeySet{}
			for _, k := range keys.ed25519 {
				set.Keys = append(set.Keys, k)
			}
			return set, nil
		case *jwt.SigningMethodRSA:
			set := jwt.VerificationKeySet{}
			for _, k := range keys.rsa {
				set.Keys = append(set.Keys, k)
			}
			return set, nil
		}
		return nil, errors.New("unsupported signing method")
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, tokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, tokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, tokenBadClaims
	case err != nil:
		return nil, tokenInvalid
	}

	vt := &verifiedToken{}
	vt.subject, _ = claims["sub"].(string)
	vt.id, _ = claims["jti"].(string)
	vt.workspace, _ = claims[v.cfg.WorkspaceClaim].(string)
	if vt.workspace == "" {
		return nil, tokenBadClaims
	}
	exp, _ := claims.GetExpirationTime() // required above
	vt.expiresAt = exp.Time
	if nbf, _ := claims.GetNotBefore(); nbf != nil {
		vt.notBefore = nbf.Time
	}
	vt.scopes = v.scopes(claims)
	if v.cfg.RoleClaim != "" {
		vt.roles = stringsClaim(claims[v.cfg.RoleClaim])
	}
	return vt, tokenValid
}

// scopes maps the scope and role claims to signals. Unknown scope values are ignored.
func (v *jwtVerifier) scopes(claims jwt.MapClaims) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimPrefix(s, "ingest:")
		switch s {
		case principal.SignalTraces, principal.SignalMetrics, principal.SignalLogs, principal.Wildcard:
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if v.cfg.ScopeClaim != "" {
		for _, s := range stringsClaim(claims[v.cfg.ScopeClaim]) {
			add(s)
		}
	}
	if v.cfg.RoleClaim != "" {
		for _, role := range stringsClaim(claims[v.cfg.RoleClaim]) {
			for _, s := range v.cfg.RoleScopes[role] {
				add(s)
			}
		}
	}
	return out
}

// stringsClaim reads a claim that is a space-separated string (OAuth "scope") or an array of strings.
func stringsClaim(c any) []string {
	switch t := c.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// parsePublicKeys reads PEM public keys: PKIX "PUBLIC KEY" (Ed25519 or RSA) and PKCS#1 "RSA PUBLIC KEY".
func parsePublicKeys(data []byte) ([]ed25519.PublicKey, []*rsa.PublicKey, error) {
	var eds []ed25519.PublicKey
	var rsas []*rsa.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			return nil, nil, fmt.Errorf("PEM block %d: unsupported type %q (want PUBLIC KEY or RSA PUBLIC KEY)", n, block.Type)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		switch k := key.(type) {
		case ed25519.PublicKey:
			eds = append(eds, k)
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				return nil, nil, fmt.Errorf("PEM block %d: RSA key must be at least 2048 bits", n)
			}
			rsas = append(rsas, k)
		default:
			return nil, nil, fmt.Errorf("PEM block %d: unsupported key type %T (want Ed25519 or RSA)", n, key)
		}
	}
	if len(eds)+len(rsas) == 0 {
		return nil, nil, errors.New("no PEM public keys found")
	}
	return eds, rsas, nil
}
