// Package cli builds the tfocol command: the collector's own command (`tfocol --config …`, `validate`,
// `components`) plus the tfocol subcommands, so users run one binary.
package cli

import (
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/tfocol/tfocol/internal/cli/keyscmd"
	"github.com/tfocol/tfocol/internal/cli/logcmd"
	"github.com/tfocol/tfocol/internal/cli/receiptscmd"
	"github.com/tfocol/tfocol/internal/cli/statuscmd"
	"github.com/tfocol/tfocol/internal/cli/tokenscmd"
)

// Commands returns the tfocol-specific subcommands.
func Commands() []*cobra.Command {
	return []*cobra.Command{
		keyscmd.New(),
		logcmd.New(),
		receiptscmd.New(),
		statuscmd.New(),
		tokenscmd.New(),
	}
}

// NewCommand returns the root command of the tfocol binary.
func NewCommand(set otelcol.CollectorSettings) *cobra.Command {
	cmd := otelcol.NewCommand(set)
	for _, sub := range cmd.Commands() {
		if sub.Name() == "components" {
			cmd.RemoveCommand(sub)
		}
	}
	cmd.AddCommand(ComponentsCommand(set))
	cmd.AddCommand(Commands()...)
	return cmd
}
