package query

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"

	"github.com/tfocol/tfocol/internal/receipts"
)

// Expr is a field expression (expr-lang, https://expr-lang.org) over a receipt's JSON fields, compiled once and
// evaluated per receipt. On top of the language (docs/receipts-cli.md, "Expressions"):
//
//   - A field the receipt does not have is missing (nil); member access on a missing value is missing too.
//   - A comparison (==, !=, <, <=, >, >=, in, contains, startsWith, endsWith, matches) with a missing side is
//     false, so `status != ok` selects only receipts that have a status. `field == nil` / `field != nil` test
//     presence. Arithmetic, unary operators and functions of a missing value are missing.
//   - A bare word compared with a field is a string: `status != ok` means `status != "ok"`.
//   - Any other name that is not a receipt field is a compile error (a typo never silently selects nothing).
type Expr struct {
	src     string
	program *vm.Program
	// fields are the top-level receipt fields the expression reads (decoded per receipt); nil means all.
	fields map[string]bool
}

// Fields are the top-level JSON fields a receipt line can have (docs/receipts.md §5).
func Fields() []string {
	var out []string
	t := reflect.TypeFor[receipts.Receipt]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// CompileExpr compiles src; the result is safe for concurrent use through Evaluators.
func CompileExpr(src string) (*Expr, error) {
	p := &exprPatcher{fields: map[string]bool{}, declared: map[string]bool{}, read: map[string]bool{}}
	for _, f := range Fields() {
		p.fields[f] = true
	}
	program, err := expr.Compile(src,
		expr.Patch(declarations{p}), expr.Patch(barewords{p}), expr.Patch(unknownNames{p}), expr.Patch(missingIsFalse{p}))
	if err != nil {
		return nil, fmt.Errorf("--filter %q: %w", src, err)
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("--filter %q: %w", src, errors.Join(p.errs...))
	}
	fields := p.read
	if p.wholeEnv {
		fields = nil
	}
	return &Expr{src: src, program: program, fields: fields}, nil
}

// String is the source text.
func (e *Expr) String() string { return e.src }

// Evaluator evaluates an Expr; each goroutine needs its own.
type Evaluator struct {
	e  *Expr
	vm vm.VM
}

// NewEvaluator returns an evaluator of e.
func (e *Expr) NewEvaluator() *Evaluator { return &Evaluator{e: e} }

// Match evaluates the expression over a receipt line. A missing result is false; a result that is not a
// boolean is an error.
func (ev *Evaluator) Match(line []byte) (bool, error) {
	if !gjson.ValidBytes(line) {
		return false, errors.New("receipt line is not valid JSON")
	}
	return ev.match(gjson.ParseBytes(line))
}

func (ev *Evaluator) match(doc gjson.Result) (bool, error) {
	out, err := ev.vm.Run(ev.e.program, ev.e.env(doc))
	if err != nil {
		return false, err
	}
	switch v := out.(type) {
	case bool:
		return v, nil
	case nil:
		return false, nil
	default:
		return false, fmt.Errorf("--filter %q gave %T %v, not true or false", ev.e.src, out, out)
	}
}

// env takes only the top-level fields the expression reads, in one pass over the (validated) line: the rest
// (an alert's embedded record, say) is skipped, not decoded.
func (e *Expr) env(doc gjson.Result) map[string]any {
	if e.fields == nil {
		env, _ := doc.Value().(map[string]any)
		return env
	}
	env := make(map[string]any, len(e.fields))
	doc.ForEach(func(k, v gjson.Result) bool {
		if e.fields[k.Str] {
			env[k.Str] = v.Value()
		}
		return true
	})
	return env
}

// exprPatcher holds what the passes over the syntax tree share.
type exprPatcher struct {
	fields   map[string]bool
	declared map[string]bool
	read     map[string]bool
	wholeEnv bool
	errs     []error
}

func (p *exprPatcher) isName(id *ast.IdentifierNode) bool {
	return p.fields[id.Value] || p.declared[id.Value] || strings.HasPrefix(id.Value, "$")
}

// fieldRef reports whether n reads a receipt field: a field name, or member access rooted at one.
func (p *exprPatcher) fieldRef(n ast.Node) bool {
	for {
		switch x := n.(type) {
		case *ast.IdentifierNode:
			return p.fields[x.Value] || x.Value == "$env"
		case *ast.MemberNode:
			n = x.Node
		case *ast.ChainNode:
			n = x.Node
		default:
			return false
		}
	}
}

// declarations collects `let` names and called names first, so they are not taken for unknown fields.
type declarations struct{ *exprPatcher }

func (p declarations) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		p.declared[n.Name] = true
	case *ast.CallNode:
		// A call's name is the checker's to resolve, not a field.
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			p.declared[id.Value] = true
		}
	}
}

var comparisons = []string{"==", "!=", "<", "<=", ">", ">=", "in", "contains", "startsWith", "endsWith", "matches"}

// barewords turns an unknown name compared with a field into a string: `status != ok`, `name in [a, b]`.
type barewords struct{ *exprPatcher }

func (p barewords) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || !slices.Contains(comparisons, b.Operator) {
		return
	}
	if p.fieldRef(b.Left) {
		p.word(&b.Right)
		if arr, ok := b.Right.(*ast.ArrayNode); ok && b.Operator == "in" {
			for i := range arr.Nodes {
				p.word(&arr.Nodes[i])
			}
		}
	} else if p.fieldRef(b.Right) {
		p.word(&b.Left)
	}
}

func (p barewords) word(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && !p.isName(id) {
		ast.Patch(n, &ast.StringNode{Value: id.Value})
	}
}

// unknownNames rejects names that are neither receipt fields nor declared, and records the fields read.
type unknownNames struct{ *exprPatcher }

func (p unknownNames) Visit(node *ast.Node) {
	if c, ok := (*node).(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok {
			p.errs = append(p.errs, fmt.Errorf("unknown function %q (expr-lang builtins only)", id.Value))
		}
	}
	if n, ok := (*node).(*ast.IdentifierNode); ok {
		switch {
		case p.fields[n.Value]:
			p.read[n.Value] = true
		case n.Value == "$env":
			p.wholeEnv = true
		case p.declared[n.Value]:
		default:
			known := Fields()
			sort.Strings(known)
			p.errs = append(p.errs, fmt.Errorf("unknown field %q (receipt fields: %s; quote a string: %q)",
				n.Value, strings.Join(known, ", "), n.Value))
		}
	}
}

// missingIsFalse reads fields from the environment, makes member access nil-safe, comparisons with a missing side false, and arithmetic, unary
// operators and builtins of a missing value missing.
type missingIsFalse struct{ *exprPatcher }

func (p missingIsFalse) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		// Fields are read from the environment by name, so a field named like a builtin (type) is the field.
		if p.fields[n.Value] && !p.declared[n.Value] {
			ast.Patch(node, &ast.ChainNode{Node: &ast.MemberNode{
				Node: &ast.IdentifierNode{Value: "$env"}, Property: &ast.StringNode{Value: n.Value}, Optional: true}})
		}
	case *ast.MemberNode:
		if !n.Method {
			n.Optional = true
			ast.Patch(node, &ast.ChainNode{Node: n})
		}
	case *ast.BinaryNode:
		if _, isNil := n.Left.(*ast.NilNode); isNil {
			return
		}
		if _, isNil := n.Right.(*ast.NilNode); isNil {
			return
		}
		switch {
		case slices.Contains(comparisons, n.Operator):
			guard(node, &ast.BoolNode{Value: false}, n.Left, n.Right)
		case slices.Contains([]string{"+", "-", "*", "/", "%", "**", "^"}, n.Operator):
			guard(node, &ast.NilNode{}, n.Left, n.Right)
		}
	case *ast.UnaryNode:
		guard(node, &ast.NilNode{}, n.Node)
	case *ast.BuiltinNode:
		if len(n.Arguments) > 0 {
			guard(node, &ast.NilNode{}, n.Arguments[0])
		}
	}
}

// guard replaces *node with `(a == nil || b == nil ...) ? ifMissing : *node`, skipping literal operands.
func guard(node *ast.Node, ifMissing ast.Node, operands ...ast.Node) {
	var cond ast.Node
	for _, o := range operands {
		if literal(o) {
			continue
		}
		isNil := &ast.BinaryNode{Operator: "==", Left: o, Right: &ast.NilNode{}}
		if cond == nil {
			cond = isNil
		} else {
			cond = &ast.BinaryNode{Operator: "||", Left: cond, Right: isNil}
		}
	}
	if cond == nil {
		return
	}
	ast.Patch(node, &ast.ConditionalNode{Ternary: true, Cond: cond, Exp1: ifMissing, Exp2: *node})
}

func literal(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.BytesNode, *ast.ConstantNode:
		return true
	case *ast.ArrayNode:
		for _, e := range x.Nodes {
			if !literal(e) {
				return false
			}
		}
		return true
	}
	return false
}
