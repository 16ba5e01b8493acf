package eventrouterconnector

import (
	"errors"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pipeline"
)

// Config configures the event_router connector.
type Config struct {
	// Schemas maps an event type to the JSON Schema (Draft 2020-12) file holding its contract.
	Schemas map[string]string `mapstructure:"schemas"`
	// EventNameAttribute is read when a log record has no OTLP EventName; empty means EventName only.
	EventNameAttribute string `mapstructure:"event_name_attribute"`
	// Routes send event types to pipelines.
	Routes []RouteConfig `mapstructure:"routes"`
	// DefaultPipelines receive records without an event type or with a type no route names.
	DefaultPipelines []pipeline.ID `mapstructure:"default_pipelines"`
	// RejectedPipelines receive records that violate their contract; when empty those are dropped.
	RejectedPipelines []pipeline.ID `mapstructure:"rejected_pipelines"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RouteConfig sends the listed event types to the listed pipelines.
type RouteConfig struct {
	Events    []string      `mapstructure:"events"`
	Pipelines []pipeline.ID `mapstructure:"pipelines"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the routing table and compiles every contract, so a broken schema fails
// `tfocol validate` with its file and the compiler's reason.
func (cfg *Config) Validate() error {
	var errs error
	if len(cfg.Routes) == 0 && len(cfg.DefaultPipelines) == 0 {
		errs = errors.Join(errs, errors.New("at least one of routes or default_pipelines must be set"))
	}
	routed := map[string]int{}
	for i, r := range cfg.Routes {
		if len(r.Events) == 0 {
			errs = errors.Join(errs, fmt.Errorf("routes[%d]: events must not be empty", i))
		}
		if len(r.Pipelines) == 0 {
			errs = errors.Join(errs, fmt.Errorf("routes[%d]: pipelines must not be empty", i))
		}
		errs = errors.Join(errs, checkLogsPipelines(fmt.Sprintf("routes[%d].pipelines", i), r.Pipelines))
		for _, ev := range r.Events {
			if ev == "" {
				errs = errors.Join(errs, fmt.Errorf("routes[%d]: event type must not be empty", i))
				continue
			}
			if prev, dup := routed[ev]; dup {
				errs = errors.Join(errs, fmt.Errorf("routes[%d]: event type %q is already routed by routes[%d]; an event goes to exactly one route", i, ev, prev))
				continue
			}
			routed[ev] = i
			if _, ok := cfg.Schemas[ev]; !ok {
				errs = errors.Join(errs, fmt.Errorf("routes[%d]: event type %q has no schema; every routed event type needs a contract in schemas", i, ev))
			}
		}
	}
	errs = errors.Join(errs,
		checkLogsPipelines("default_pipelines", cfg.DefaultPipelines),
		checkLogsPipelines("rejected_pipelines", cfg.RejectedPipelines))

	for _, ev := range sortedKeys(cfg.Schemas) {
		path := cfg.Schemas[ev]
		if ev == "" || ev == labelUnknownType || ev == labelNoType {
			errs = errors.Join(errs, fmt.Errorf("schemas: event type %q is empty or reserved (%q and %q label records without a contract)", ev, labelUnknownType, labelNoType))
			continue
		}
		if path == "" {
			errs = errors.Join(errs, fmt.Errorf("schemas::%s: file must not be empty", ev))
			continue
		}
		if _, err := loadContract(path); err != nil {
			errs = errors.Join(errs, fmt.Errorf("schemas::%s: contract %q: %w", ev, path, err))
		}
	}
	return errs
}

func checkLogsPipelines(field string, ids []pipeline.ID) error {
	var errs error
	for _, id := range ids {
		if id.Signal() != pipeline.SignalLogs {
			errs = errors.Join(errs, fmt.Errorf("%s: %q is not a logs pipeline", field, id))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
