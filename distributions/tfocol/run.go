//go:build !windows

// This file replaces ocb's main_others.go (removed by `make generate`) so that the
// tfocol subcommands join the collector's command in one binary.
package main

import (
	"errors"
	"os"

	"go.opentelemetry.io/collector/otelcol"

	"github.com/tfocol/tfocol/internal/cli"
)

func run(params otelcol.CollectorSettings) error {
	if err := cli.EnableDefaultGates(); err != nil {
		return err
	}
	err := cli.NewCommand(params).Execute()
	// Subcommands such as `tfocol log check` ask for a specific exit status (1 damaged, 2 usage or I/O error).
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		os.Exit(coded.ExitCode())
	}
	return err
}
