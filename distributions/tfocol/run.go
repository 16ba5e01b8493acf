//go:build !windows

// This file replaces ocb's main_others.go (removed by `make generate`) so that the
// tfocol subcommands join the collector's command in one binary.
package main

import (
	"go.opentelemetry.io/collector/otelcol"

	"github.com/tfocol/tfocol/internal/cli"
)

func run(params otelcol.CollectorSettings) error {
	if err := cli.EnableDefaultGates(); err != nil {
		return err
	}
	return cli.NewCommand(params).Execute()
}
