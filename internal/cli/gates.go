package cli

import (
	"go.opentelemetry.io/collector/featuregate"
)

// defaultGates are feature gates tfocol turns on; `--feature-gates=-<id>` still turns one off.
var defaultGates = []string{
	// health_check answers from component status: 503 while the durable log refuses appends or one of its
	// consumers is stalled (docs/design/durable-log.md), instead of 200 for as long as the process runs.
	"extension.healthcheck.useComponentStatus",
}

// EnableDefaultGates sets tfocol's default feature gates; it runs before the command line is parsed.
func EnableDefaultGates() error {
	for _, id := range defaultGates {
		if err := featuregate.GlobalRegistry().Set(id, true); err != nil {
			return err
		}
	}
	return nil
}
