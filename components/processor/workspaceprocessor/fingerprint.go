package workspaceprocessor

import (
	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The payload fingerprint is xxHash64 of the signal name and the request's protobuf encoding as
// pdata marshals it. That encoding is deterministic, so the same batch gives the same fingerprint
// whether it arrived as OTLP/gRPC, OTLP/HTTP protobuf or JSON, compressed or not, and on any
// replica. It is computed before the processor stamps its own attributes. A zero hash is mapped to
// 1 because 0 means "not checked".

var (
	tracesMarshaler  ptrace.ProtoMarshaler
	metricsMarshaler pmetric.ProtoMarshaler
	logsMarshaler    plog.ProtoMarshaler
)

func fingerprintTraces(td ptrace.Traces) uint64 {
	b, err := tracesMarshaler.MarshalTraces(td)
	return fingerprintBytes(signalTraces, b, err)
}

func fingerprintMetrics(md pmetric.Metrics) uint64 {
	b, err := metricsMarshaler.MarshalMetrics(md)
	return fingerprintBytes(signalMetrics, b, err)
}

func fingerprintLogs(ld plog.Logs) uint64 {
	b, err := logsMarshaler.MarshalLogs(ld)
	return fingerprintBytes(signalLogs, b, err)
}

func fingerprintBytes(signal string, b []byte, err error) uint64 {
	if err != nil {
		// pdata only fails to marshal data it could not have unmarshaled; skip the check.
		return 0
	}
	d := xxhash.New()
	_, _ = d.WriteString(signal)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(b)
	if sum := d.Sum64(); sum != 0 {
		return sum
	}
	return 1
}
