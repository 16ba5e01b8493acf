package receipts

// The OTLP messages a leaf may hold, field by field as the pdata v1.55 unmarshaler reads them
// (pdata/internal/generated_proto_*.go). Fields not listed are unknown to pdata and skipped.

func msg(fields map[int32]fieldSpec) *schema { return &schema{fields: fields} }

var (
	fVarint       = fieldSpec{kind: kVarint}
	fI64          = fieldSpec{kind: kI64}
	fI32          = fieldSpec{kind: kI32}
	fBytes        = fieldSpec{kind: kBytes}
	fTraceID      = fieldSpec{kind: kTraceID}
	fSpanID       = fieldSpec{kind: kSpanID}
	fPackedI64    = fieldSpec{kind: kPackedI64}
	fPackedVarint = fieldSpec{kind: kPackedVarint}
)

func fMsg(s *schema) fieldSpec { return fieldSpec{kind: kMessage, msg: s} }

var (
	schemaAnyValue     = msg(nil) // recursive: filled in init
	schemaKeyValue     = msg(map[int32]fieldSpec{1: fBytes, 2: fMsg(schemaAnyValue), 3: fVarint})
	schemaArrayValue   = msg(map[int32]fieldSpec{1: fMsg(schemaAnyValue)})
	schemaKeyValueList = msg(map[int32]fieldSpec{1: fMsg(schemaKeyValue)})

	schemaEntityRef = msg(map[int32]fieldSpec{1: fBytes, 2: fBytes, 3: fBytes, 4: fBytes})
	schemaResource  = msg(map[int32]fieldSpec{1: fMsg(schemaKeyValue), 2: fVarint, 3: fMsg(schemaEntityRef)})
	schemaScope     = msg(map[int32]fieldSpec{1: fBytes, 2: fBytes, 3: fMsg(schemaKeyValue), 4: fVarint})

	schemaLogRecord = msg(map[int32]fieldSpec{
		1: fI64, 11: fI64, 2: fVarint, 3: fBytes, 5: fMsg(schemaAnyValue), 6: fMsg(schemaKeyValue), 7: fVarint,
		8: fI32, 9: fTraceID, 10: fSpanID, 12: fBytes,
	})
	schemaScopeLogs    = msg(map[int32]fieldSpec{1: fMsg(schemaScope), 2: fMsg(schemaLogRecord), 3: fBytes})
	schemaResourceLogs = msg(map[int32]fieldSpec{
		1: fMsg(schemaResource), 2: fMsg(schemaScopeLogs), 3: fBytes, 1000: fMsg(schemaScopeLogs),
	})
	schemaLogsRequest = msg(map[int32]fieldSpec{1: fMsg(schemaResourceLogs)})

	schemaSpanEvent = msg(map[int32]fieldSpec{1: fI64, 2: fBytes, 3: fMsg(schemaKeyValue), 4: fVarint})
	schemaSpanLink  = msg(map[int32]fieldSpec{
		1: fTraceID, 2: fSpanID, 3: fBytes, 4: fMsg(schemaKeyValue), 5: fVarint, 6: fI32,
	})
	schemaStatus = msg(map[int32]fieldSpec{2: fBytes, 3: fVarint})
	schemaSpan   = msg(map[int32]fieldSpec{
		1: fTraceID, 2: fSpanID, 3: fBytes, 4: fSpanID, 16: fI32, 5: fBytes, 6: fVarint, 7: fI64, 8: fI64,
		9: fMsg(schemaKeyValue), 10: fVarint, 11: fMsg(schemaSpanEvent), 12: fVarint, 13: fMsg(schemaSpanLink),
		14: fVarint, 15: fMsg(schemaStatus),
	})
	schemaScopeSpans    = msg(map[int32]fieldSpec{1: fMsg(schemaScope), 2: fMsg(schemaSpan), 3: fBytes})
	schemaResourceSpans = msg(map[int32]fieldSpec{
		1: fMsg(schemaResource), 2: fMsg(schemaScopeSpans), 3: fBytes, 1000: fMsg(schemaScopeSpans),
	})
	schemaTracesRequest = msg(map[int32]fieldSpec{1: fMsg(schemaResourceSpans)})

	schemaExemplar = msg(map[int32]fieldSpec{
		7: fMsg(schemaKeyValue), 2: fI64, 3: fI64, 6: fI64, 5: fTraceID, 4: fSpanID,
	})
	schemaNumberPoint = msg(map[int32]fieldSpec{
		7: fMsg(schemaKeyValue), 2: fI64, 3: fI64, 4: fI64, 6: fI64, 5: fMsg(schemaExemplar), 8: fVarint,
	})
	schemaHistogramPoint = msg(map[int32]fieldSpec{
		9: fMsg(schemaKeyValue), 2: fI64, 3: fI64, 4: fI64, 5: fI64, 6: fPackedI64, 7: fPackedI64,
		8: fMsg(schemaExemplar), 10: fVarint, 11: fI64, 12: fI64,
	})
	schemaBuckets         = msg(map[int32]fieldSpec{1: fVarint, 2: fPackedVarint})
	schemaExpHistogramPnt = msg(map[int32]fieldSpec{
		1: fMsg(schemaKeyValue), 2: fI64, 3: fI64, 4: fI64, 5: fI64, 6: fVarint, 7: fI64, 8: fMsg(schemaBuckets),
		9: fMsg(schemaBuckets), 10: fVarint, 11: fMsg(schemaExemplar), 12: fI64, 13: fI64, 14: fI64,
	})
	schemaQuantile     = msg(map[int32]fieldSpec{1: fI64, 2: fI64})
	schemaSummaryPoint = msg(map[int32]fieldSpec{
		7: fMsg(schemaKeyValue), 2: fI64, 3: fI64, 4: fI64, 5: fI64, 6: fMsg(schemaQuantile), 8: fVarint,
	})
	schemaGauge        = msg(map[int32]fieldSpec{1: fMsg(schemaNumberPoint)})
	schemaSum          = msg(map[int32]fieldSpec{1: fMsg(schemaNumberPoint), 2: fVarint, 3: fVarint})
	schemaHistogram    = msg(map[int32]fieldSpec{1: fMsg(schemaHistogramPoint), 2: fVarint})
	schemaExpHistogram = msg(map[int32]fieldSpec{1: fMsg(schemaExpHistogramPnt), 2: fVarint})
	schemaSummary      = msg(map[int32]fieldSpec{1: fMsg(schemaSummaryPoint)})
	schemaMetric       = msg(map[int32]fieldSpec{
		1: fBytes, 2: fBytes, 3: fBytes, 5: fMsg(schemaGauge), 7: fMsg(schemaSum), 9: fMsg(schemaHistogram),
		10: fMsg(schemaExpHistogram), 11: fMsg(schemaSummary), 12: fMsg(schemaKeyValue),
	})
	schemaScopeMetrics    = msg(map[int32]fieldSpec{1: fMsg(schemaScope), 2: fMsg(schemaMetric), 3: fBytes})
	schemaResourceMetrics = msg(map[int32]fieldSpec{
		1: fMsg(schemaResource), 2: fMsg(schemaScopeMetrics), 3: fBytes, 1000: fMsg(schemaScopeMetrics),
	})
	schemaMetricsRequest = msg(map[int32]fieldSpec{1: fMsg(schemaResourceMetrics)})
)

func init() {
	schemaAnyValue.fields = map[int32]fieldSpec{
		1: fBytes, 2: fVarint, 3: fVarint, 4: fI64, 5: fMsg(schemaArrayValue), 6: fMsg(schemaKeyValueList),
		7: fBytes, 8: fVarint,
	}
}
