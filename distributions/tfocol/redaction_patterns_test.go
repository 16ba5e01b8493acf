package main

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The shipped redaction is split over two processors for speed (configs/gateway.yaml, docs/policy.md): the
// second passes over values its allowed_values pattern matches. These tests hold the split to what it claims:
// the same keys and values are masked as with the single list it replaced.

// singleListKeys and singleListValues are the patterns as one redaction processor had them (commit 9c6d406).
var singleListKeys = []string{`password$`, `passwd$`, `pwd$`, `secret$`, `api_key$`, `api-key$`, `apikey$`, `token$`,
	`authorization$`, `cookie$`, `private_key$`, `private-key$`, `Password$`, `Secret$`, `Token$`, `Authorization$`,
	`Cookie$`, `PASSWORD$`, `SECRET$`, `TOKEN$`}

var singleListValues = []string{
	`Bearer\s+[A-Za-z0-9._~+/=-]{8,}`, `bearer\s+[A-Za-z0-9._~+/=-]{8,}`,
	`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}`, `tfs_[A-Za-z0-9_-]{8,}`,
	`AKIA[0-9A-Z]{16}`, `ASIA[0-9A-Z]{16}`, `gh[pousr]_[A-Za-z0-9]{30,}`, `xox[abposr]-[A-Za-z0-9-]{10,}`,
	`sk_live_[A-Za-z0-9]{16,}`, `rk_live_[A-Za-z0-9]{16,}`, `AIza[0-9A-Za-z_-]{35}`,
	`password\s*[=:]\s*[^\s&;,"']{4,}`, `passwd\s*[=:]\s*[^\s&;,"']{4,}`, `pwd\s*[=:]\s*[^\s&;,"']{4,}`,
	`secret\s*[=:]\s*[^\s&;,"']{4,}`, `api_key\s*[=:]\s*[^\s&;,"']{4,}`, `api-key\s*[=:]\s*[^\s&;,"']{4,}`,
	`apikey\s*[=:]\s*[^\s&;,"']{4,}`, `token\s*[=:]\s*[^\s&;,"']{4,}`, `PASSWORD\s*[=:]\s*[^\s&;,"']{4,}`,
	`SECRET\s*[=:]\s*[^\s&;,"']{4,}`, `TOKEN\s*[=:]\s*[^\s&;,"']{4,}`, `API_KEY\s*[=:]\s*[^\s&;,"']{4,}`,
	`Password\s*[=:]\s*[^\s&;,"']{4,}`, `//[^/\s:@]+:[^/\s:@]+@`,
	`\b((4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6(011|5\d{2}))(\d{12}|( \d{4}){3}|(-\d{4}){3})|3[47]\d{2}(\d{11}| \d{6} \d{5}|-\d{6}-\d{5}))\b`,
	`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
}

func compileAll(t *testing.T, ps []string) []*regexp.Regexp {
	t.Helper()
	out := make([]*regexp.Regexp, len(ps))
	for i, p := range ps {
		out[i] = regexp.MustCompile(p)
	}
	return out
}

func anyMatch(rs []*regexp.Regexp, s string) bool {
	for _, r := range rs {
		if r.MatchString(s) {
			return true
		}
	}
	return false
}

func shippedPatterns(t *testing.T, id, key string) []*regexp.Regexp {
	t.Helper()
	v := shippedConf(t).Get("processors::" + id + "::" + key)
	list, ok := v.([]any)
	if !ok && v != nil {
		t.Fatalf("processors::%s::%s is %T", id, key, v)
	}
	ps := make([]string, len(list))
	for i, p := range list {
		ps[i] = p.(string)
	}
	return compileAll(t, ps)
}

// fragments are pieces random values are made of: the characters and words the patterns look for, near
// misses, digit runs and separators, so that matches, partial matches and the allowed boundary all occur.
var fragments = []string{"password", "passwd", "pwd", "secret", "api_key", "api-key", "apikey", "token", "PASSWORD",
	"SECRET", "TOKEN", "API_KEY", "Password", "Bearer", "bearer", "eyJhbGci", "tfs_", "AKIA", "ASIA", "ghp_", "xoxb-",
	"sk_live_", "rk_live_", "AIza", "=", ":", "@", " ", "  ", "//", "/", ".", "-", "_", "&", ";", ",", "'", "\"",
	"example.com", "user", "x", "ABCDEFGHIJKLMNOP", "abcdefgh12345678", "4111", "5500", "3782", "6011", "0000",
	"1234567890", "12", "7", "\t", "\n", "é"}

func randomValue(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(12) {
		b.WriteString(fragments[rng.IntN(len(fragments))])
	}
	return b.String()
}

// A value the second processor passes over (allowed_values) can match none of its blocked_values.
func TestRedactionAllowedValuesCannotHoldABlockedValue(t *testing.T) {
	allowed := shippedPatterns(t, "redaction/pairs_and_pii", "allowed_values")
	blocked := shippedPatterns(t, "redaction/pairs_and_pii", "blocked_values")
	if len(allowed) == 0 || len(blocked) == 0 {
		t.Fatal("redaction/pairs_and_pii has no allowed_values or blocked_values")
	}
	rng := rand.New(rand.NewPCG(7, 11))
	passedOver := 0
	for range 200000 {
		s := randomValue(rng)
		if anyMatch(allowed, s) {
			passedOver++
			if anyMatch(blocked, s) {
				t.Fatalf("%q is passed over but holds a blocked value", s)
			}
		}
	}
	if passedOver < 1000 {
		t.Fatalf("only %d of the random values were passed over: the test does not reach the boundary", passedOver)
	}
}

// The two processors together mask a value exactly when the single list did, and the same keys.
func TestRedactionSplitMasksWhatTheSingleListDid(t *testing.T) {
	oldKeys, oldValues := compileAll(t, singleListKeys), compileAll(t, singleListValues)
	keys := shippedPatterns(t, "redaction", "blocked_key_patterns")
	first := shippedPatterns(t, "redaction", "blocked_values")
	allowed := shippedPatterns(t, "redaction/pairs_and_pii", "allowed_values")
	second := shippedPatterns(t, "redaction/pairs_and_pii", "blocked_values")
	if k := shippedPatterns(t, "redaction/pairs_and_pii", "blocked_key_patterns"); len(k) != 0 {
		t.Fatal("redaction/pairs_and_pii must have no key patterns: an allowed value would skip them")
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for range 200000 {
		s := randomValue(rng)
		want := anyMatch(oldValues, s)
		got := anyMatch(first, s) || (!anyMatch(allowed, s) && anyMatch(second, s))
		if got != want {
			t.Fatalf("value %q: masked %v by the split processors, %v by the single list", s, got, want)
		}
		key := strings.Trim(s, " \t\n")
		if anyMatch(keys, key) != anyMatch(oldKeys, key) {
			t.Fatalf("key %q: masked %v now, %v by the single list", key, anyMatch(keys, key), anyMatch(oldKeys, key))
		}
	}
	for _, k := range []string{"db.password", "passwd", "x.pwd", "api_key", "api-key", "apikey", "private_key",
		"private-key", "http.request.header.authorization", "Cookie", "SECRET", "access_token"} {
		if !anyMatch(keys, k) {
			t.Errorf("key %q is not masked", k)
		}
	}
}
