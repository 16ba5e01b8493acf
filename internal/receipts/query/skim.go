package query

import (
	"github.com/tidwall/gjson"

	"github.com/tfocol/tfocol/internal/receipts"
)

// skim takes the fields a Filter looks at from a validated receipt line in one pass, without decoding the rest,
// so lines the filter drops cost a scan instead of a full decode. Lists are taken only when f matches on them.
// It fills s.lite, reused from line to line.
func (s *skimmer) skim(doc gjson.Result, f *Filter) *receipts.Receipt {
	s.lite = receipts.Receipt{}
	r := &s.lite
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			r.Type = v.String()
		case "timestamp":
			r.Timestamp = v.String()
		case "workspace":
			r.Workspace = v.String()
		case "period":
			s.period = receipts.Period{Start: v.Get("start").String(), End: v.Get("end").String()}
			r.Period = &s.period
		case "event_time":
			r.EventTime = v.String()
		case "node":
			r.Node = v.String()
		case "service":
			r.Service = v.String()
		case "nodes_reporting":
			if len(f.Nodes) > 0 {
				r.NodesReporting = stringList(v)
			}
		case "services_reporting":
			if len(f.Services) > 0 {
				r.ServicesReporting = stringList(v)
			}
		}
		return true
	})
	return r
}

// skimmer holds one scan's scratch receipt. Strings in it may point into the line being read: nothing taken
// from it outlives the line.
type skimmer struct {
	lite   receipts.Receipt
	period receipts.Period
}

func stringList(v gjson.Result) []string {
	var out []string
	v.ForEach(func(_, e gjson.Result) bool {
		out = append(out, e.String())
		return true
	})
	return out
}
