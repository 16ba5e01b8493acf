package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
	"go.yaml.in/yaml/v3"
)

// ComponentsCommand replaces the collector's `components` subcommand. Upstream v0.149.0 hides every factory
// that carries a deprecated type alias, so the renamed otlp_grpc / otlp_http exporters vanish from the list
// (open-telemetry/opentelemetry-collector#14682). This version hides only the alias entries themselves.
func ComponentsCommand(set otelcol.CollectorSettings) *cobra.Command {
	return &cobra.Command{
		Use:   "components",
		Short: "Outputs available components in this collector distribution",
		Args:  cobra.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			factories, err := set.Factories()
			if err != nil {
				return fmt.Errorf("failed to initialize factories: %w", err)
			}
			out := componentsOutput{BuildInfo: set.BuildInfo}
			for _, f := range canonical(factories.Receivers) {
				out.Receivers = append(out.Receivers, describe(f, factories.ReceiverModules, map[string]component.StabilityLevel{
					"logs": f.LogsStability(), "metrics": f.MetricsStability(), "traces": f.TracesStability(),
				}))
			}
			for _, f := range canonical(factories.Processors) {
				out.Processors = append(out.Processors, describe(f, factories.ProcessorModules, map[string]component.StabilityLevel{
					"logs": f.LogsStability(), "metrics": f.MetricsStability(), "traces": f.TracesStability(),
				}))
			}
			for _, f := range canonical(factories.Exporters) {
				out.Exporters = append(out.Exporters, describe(f, factories.ExporterModules, map[string]component.StabilityLevel{
					"logs": f.LogsStability(), "metrics": f.MetricsStability(), "traces": f.TracesStability(),
				}))
			}
			for _, f := range canonical(factories.Connectors) {
				out.Connectors = append(out.Connectors, describe(f, factories.ConnectorModules, map[string]component.StabilityLevel{
					"logs-to-logs": f.LogsToLogsStability(), "logs-to-metrics": f.LogsToMetricsStability(), "logs-to-traces": f.LogsToTracesStability(),
					"metrics-to-logs": f.MetricsToLogsStability(), "metrics-to-metrics": f.MetricsToMetricsStability(), "metrics-to-traces": f.MetricsToTracesStability(),
					"traces-to-logs": f.TracesToLogsStability(), "traces-to-metrics": f.TracesToMetricsStability(), "traces-to-traces": f.TracesToTracesStability(),
				}))
			}
			for _, f := range canonical(factories.Extensions) {
				out.Extensions = append(out.Extensions, describe(f, factories.ExtensionModules, map[string]component.StabilityLevel{
					"extension": f.Stability(),
				}))
			}
			for _, pf := range set.ConfigProviderSettings.ResolverSettings.ProviderFactories {
				scheme := pf.Create(confmap.ProviderSettings{}).Scheme()
				out.Providers = append(out.Providers, componentWithoutStability{Scheme: scheme, Module: set.ProviderModules[scheme]})
			}
			sort.Slice(out.Providers, func(i, j int) bool { return out.Providers[i].Scheme < out.Providers[j].Scheme })
			for _, m := range set.ConverterModules {
				out.Converters = append(out.Converters, componentWithoutStability{Module: m})
			}
			data, err := yaml.Marshal(out)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(data))
			return err
		},
	}
}

type componentWithStability struct {
	Name      component.Type
	Module    string
	Stability map[string]string
}

type componentWithoutStability struct {
	Scheme string `yaml:",omitempty"`
	Module string
}

type componentsOutput struct {
	BuildInfo  component.BuildInfo
	Receivers  []componentWithStability
	Processors []componentWithStability
	Exporters  []componentWithStability
	Connectors []componentWithStability
	Extensions []componentWithStability
	Providers  []componentWithoutStability
	Converters []componentWithoutStability `yaml:",omitempty"`
}

// canonical returns the factories registered under their own type, sorted; alias keys point at the same
// factory under its old name and are skipped.
func canonical[F component.Factory](factories map[component.Type]F) []F {
	var out []F
	for typ, f := range factories {
		if f.Type() == typ {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type().String() < out[j].Type().String() })
	return out
}

func describe(f component.Factory, modules map[component.Type]string, levels map[string]component.StabilityLevel) componentWithStability {
	stability := make(map[string]string, len(levels))
	for k, v := range levels {
		stability[k] = v.String()
	}
	return componentWithStability{Name: f.Type(), Module: modules[f.Type()], Stability: stability}
}
