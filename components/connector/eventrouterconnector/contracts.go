package eventrouterconnector

import "go.opentelemetry.io/collector/pdata/plog"

// Contract is one compiled event contract, exported for components that check an event before the router does:
// the edge receiver answers each event's rejection to its client with exactly the reason the router stamps.
type Contract struct{ c *contract }

// LoadContract reads and compiles a Draft 2020-12 contract file the way the router does.
func LoadContract(path string) (*Contract, error) {
	c, err := loadContract(path)
	if err != nil {
		return nil, err
	}
	return &Contract{c: c}, nil
}

// ID is the contract's $id (the file URL when it has none), which the router stamps as tfo.schema.id.
func (c *Contract) ID() string { return c.c.id }

// Check returns "" when lr keeps the contract, else the reason the router stamps as tfo.schema.rejection.reason.
// Safe for concurrent use.
func (c *Contract) Check(lr plog.LogRecord) string {
	if rej := c.c.check(make(map[string]any, 16), lr); rej != nil {
		return rej.reason
	}
	return ""
}
