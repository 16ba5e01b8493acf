package receipts

// ServiceCounts are one service's records in one batch; Errors counts spans with status ERROR (traces only).
type ServiceCounts struct {
	Records uint64 `json:"n"`
	Errors  uint64 `json:"e,omitempty"`
}

// GoodBad are an SLO indicator's events in one batch.
type GoodBad struct {
	Good uint64 `json:"g"`
	Bad  uint64 `json:"b"`
}

// BatchFacts are what obs_slo_report and obs_anomaly_detected take from one sealed batch: its records per
// service (resource service.name, "" when absent) and, for trace batches, good and bad events per SLO indicator
// (by SLOIndicator.Key). The exporter counts them as records join the window; a verifier counts them again from
// the batch file.
type BatchFacts struct {
	Services map[string]ServiceCounts `json:"services"`
	SLO      map[string]GoodBad       `json:"slo,omitempty"`
}

// NewBatchFacts is empty facts counting the given indicators (traces).
func NewBatchFacts(inds []SLOIndicator) *BatchFacts {
	f := &BatchFacts{Services: map[string]ServiceCounts{}}
	if len(inds) > 0 {
		f.SLO = make(map[string]GoodBad, len(inds))
		for _, in := range inds {
			f.SLO[in.Key()] = GoodBad{}
		}
	}
	return f
}

// Add counts one record of the batch's signal.
func (f *BatchFacts) Add(signal string, info RecordInfo, inds []SLOIndicator) {
	c := f.Services[info.Service]
	c.Records++
	if signal == SignalTraces && info.Error {
		c.Errors++
	}
	f.Services[info.Service] = c
	if signal != SignalTraces {
		return
	}
	for _, in := range inds {
		counted, good := in.Classify(info)
		if !counted {
			continue
		}
		gb := f.SLO[in.Key()]
		if good {
			gb.Good++
		} else {
			gb.Bad++
		}
		f.SLO[in.Key()] = gb
	}
}

// Counts reports whether the facts count every given indicator.
func (f *BatchFacts) Counts(inds []SLOIndicator) bool {
	for _, in := range inds {
		if _, ok := f.SLO[in.Key()]; !ok {
			return false
		}
	}
	return true
}

// ReadBatchFacts counts the facts of a batch file's records (§4 framing) of the given signal.
func ReadBatchFacts(signal string, data []byte, inds []SLOIndicator) (*BatchFacts, error) {
	leaves, err := ReadRecords(data)
	if err != nil {
		return nil, err
	}
	f := NewBatchFacts(inds)
	for i, l := range leaves {
		info, err := LeafInfo(signal, l)
		if err != nil {
			return nil, &RecordError{Index: i, Err: err}
		}
		f.Add(signal, info, inds)
	}
	return f, nil
}

// SignalOf is the signal of a batch receipt type ("" for other types).
func SignalOf(receiptType string) string {
	for sig, typ := range map[string]string{SignalLogs: TypeLogBatch, SignalMetrics: TypeMetricSnapshot, SignalTraces: TypeTraceBatch} {
		if typ == receiptType {
			return sig
		}
	}
	return ""
}

// LeafInfo decodes one leaf (§3) and returns the facts receipts count about its record: the same RecordInfo the
// exporter derived when the record was delivered (service and node for every signal, and what spanInfo takes
// for spans; severity and event name for logs).
func LeafInfo(signal string, leaf []byte) (RecordInfo, error) {
	p, err := splitLeaf(signal, leaf)
	if err != nil {
		return RecordInfo{}, err
	}
	svc, node, _ := resourceFacts(p.resource)
	switch signal {
	case SignalTraces:
		return spanInfo(p.record, svc, node), nil
	case SignalLogs:
		lr := readLogRecord(p.record)
		return RecordInfo{Service: svc, Node: node, Severity: lr.severity, EventName: lr.eventNameOf()}, nil
	}
	return RecordInfo{Service: svc, Node: node}, nil
}
