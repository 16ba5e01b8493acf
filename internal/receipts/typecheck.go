package receipts

// typeChecks are the strict, type-specific checks of receipt types registered with RegisterTypeCheck; ParseReceipt
// runs the one of a receipt's type after the common checks, and a type without one is unknown.
//
// Minimal registry for the derived receipt types; the verifier-strictness change defines the full table.
var typeChecks = map[string]func(*Receipt) error{}

// RegisterTypeCheck registers the check of a receipt type (from an init function).
func RegisterTypeCheck(typ string, fn func(*Receipt) error) { typeChecks[typ] = fn }
