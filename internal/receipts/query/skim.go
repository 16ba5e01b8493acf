package query

import (
	"github.com/tidwall/gjson"

	"github.com/tfocol/tfocol/internal/receipts"
)

// skim takes the fields a Filter looks at from a validated receipt line in one pass, without decoding the rest,
// so lines the filter drops cost a scan instead of a full decode. Lists are taken only when f matches on them.
func skim(doc gjson.Result, f *Filter) *receipts.Receipt {
	var r receipts.Receipt
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			r.Type = v.String()
		case "timestamp":
			r.Timestamp = v.String()
		case "workspace":
			r.Workspace = v.String()
		case "period":
			r.Period = &receipts.Period{Start: v.Get("start").String(), End: v.Get("end").String()}
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
	return &r
}

func stringList(v gjson.Result) []string {
	var out []string
	v.ForEach(func(_, e gjson.Result) bool {
		out = append(out, e.String())
		return true
	})
	return out
}
