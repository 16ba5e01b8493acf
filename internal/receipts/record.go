package receipts

// Record is one leaf with the facts receipts summarise about it.
type Record struct {
	Workspace string
	// EventTime is the record's own time in Unix nanoseconds (0 when it has none).
	EventTime int64
	// Leaf is the canonical leaf encoding: the record alone in a one-record Export*ServiceRequest protobuf.
	Leaf []byte
	// LeafHash is the RFC 9162 BLAKE3 leaf hash of Leaf when already computed (nil otherwise).
	LeafHash []byte
	Info     RecordInfo
}

// RecordInfo is what receipts count. It is derived from the leaf alone, so a replay reproduces it exactly.
type RecordInfo struct {
	Service string
	Node    string
	// logs
	Severity  int32
	EventName string
	// metrics
	MetricName string
	PointType  string
	// traces
	TraceID  string
	SpanID   string
	SpanName string
	Parent   string
	Start    int64
	End      int64
	Error    bool
	Kind     int32 // OTLP SpanKind
}
