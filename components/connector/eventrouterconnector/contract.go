package eventrouterconnector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

const (
	draft202012 = "https://json-schema.org/draft/2020-12/schema"
	// maxReasonLen bounds the rejection reason attribute; the validator quotes offending values and keys.
	maxReasonLen = 256
)

var englishPrinter = message.NewPrinter(language.English)

// contract is one compiled event schema.
type contract struct {
	id     string // the schema's $id, else its file URL; stamped as tfo.schema.id
	schema *jsonschema.Schema
	fast   *fastNode // nil when the schema uses keywords outside the fast path
}

// rejection describes why a document broke its contract.
type rejection struct {
	// reason is the validator's first error, e.g. "at '/body/status': value must be one of 'a', 'b'".
	reason string
	// label is the bounded metric form: keyword and instance location, e.g. "enum /body/status".
	label string
}

// loadContract reads and compiles one Draft 2020-12 schema file.
func loadContract(path string) (*contract, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("a contract must be a JSON object")
	}
	if s, ok := obj["$schema"]; ok && strings.TrimSuffix(fmt.Sprint(s), "#") != draft202012 {
		return nil, fmt.Errorf("$schema %q is not supported; contracts use %s", s, draft202012)
	}
	id := "file://" + filepath.ToSlash(abs)
	if s, ok := obj["$id"].(string); ok && s != "" {
		id = s
	}

	sch, err := compileSchema(abs, doc)
	var invalid *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &invalid) && errors.As(invalid.Err, &verr) {
		// The metaschema's full error tree is long; its first leaf says what to fix.
		return nil, fmt.Errorf("not a valid JSON Schema 2020-12 document: %s", describe(firstLeaf(verr)))
	}
	if err != nil {
		return nil, err
	}
	fast, _ := compileFast(sch)
	return &contract{id: id, schema: sch, fast: fast}, nil
}

// compileSchema compiles a decoded schema document found at url the way every contract is compiled.
func compileSchema(url string, doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats (date-time, uuid, uri ...) are part of the contract, not annotations.
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// check validates a record: the fast path clears valid records without building a document; the rest
// are built into doc (cleared after use) and judged by the library.
func (c *contract) check(doc map[string]any, lr plog.LogRecord) *rejection {
	if c.fast != nil && c.fast.checkRecord(lr) == valid {
		return nil
	}
	defer clear(doc)
	if err := buildDocument(doc, lr); err != nil {
		return &rejection{reason: err.Error(), label: "depth /"}
	}
	return c.validate(doc)
}

// validate checks a document with the library; it returns nil when the document keeps the contract.
func (c *contract) validate(doc map[string]any) *rejection {
	err := c.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return &rejection{reason: truncate(err.Error()), label: "invalid"}
	}
	leaf := firstLeaf(verr)
	return &rejection{reason: truncate(describe(leaf)), label: reasonLabel(leaf)}
}

// describe renders one validation error as "at '<instance location>': <message>".
func describe(e *jsonschema.ValidationError) string {
	if ap, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
		// Reported in map order; sort so the message is stable.
		ap.Properties = slices.Sorted(slices.Values(ap.Properties))
	}
	return "at " + quote(jsonPointer(e.InstanceLocation)) + ": " + e.ErrorKind.LocalizedString(englishPrinter)
}

// firstLeaf picks the most specific error deterministically: the validator walks objects in map
// order, so among all leaf errors take the one with the smallest instance location, then keyword.
func firstLeaf(root *jsonschema.ValidationError) *jsonschema.ValidationError {
	var best *jsonschema.ValidationError
	var bestKey string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			key := jsonPointer(e.InstanceLocation) + "\x00" + strings.Join(e.ErrorKind.KeywordPath(), "/")
			if best == nil || key < bestKey {
				best, bestKey = e, key
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(root)
	return best
}

// reasonLabel is the rejection's metric label: keyword plus instance location with array indexes
// folded to "*". For "required" the first missing property is appended: it comes from the schema, so
// the label set stays bounded; offending values and unknown keys never reach a label.
func reasonLabel(e *jsonschema.ValidationError) string {
	loc := slices.Clone(e.InstanceLocation)
	for i, tok := range loc {
		if isDigits(tok) {
			loc[i] = "*"
		}
	}
	if req, ok := e.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		loc = append(loc, slices.Min(req.Missing))
	}
	kw := e.ErrorKind.KeywordPath()
	keyword := "schema"
	if len(kw) > 0 {
		keyword = kw[len(kw)-1]
	}
	return keyword + " " + jsonPointer(loc)
}

func jsonPointer(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var sb strings.Builder
	for _, tok := range tokens {
		sb.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		sb.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	return sb.String()
}

// quote single-quotes s the way the validator's messages do.
func quote(s string) string {
	s = strconv.Quote(s)
	s = strings.ReplaceAll(s, `\"`, `"`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "'" + s[1:len(s)-1] + "'"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate keeps a reason short and valid UTF-8.
func truncate(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	cut := maxReasonLen - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
