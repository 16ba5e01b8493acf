package receiptexporter

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/zeebo/blake3"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/wal"
)

// Headers the workspace processor scopes Idempotency-Keys by, and the attribute event_router
// (components/connector/eventrouterconnector AttrRejectionReason) puts on records that failed their contract.
const (
	headerWorkspace   = "x-workspace-id"
	headerIdempotency = "idempotency-key"
	rejectionAttr     = "tfo.schema.rejection.reason"
)

// idempotencyScope returns the workspace (lower case, as the workspace processor canonicalises it) and the
// Idempotency-Key of the request, ok only when a key is present. Repeated headers must agree, as in the
// processor; client.Metadata.Get is case-insensitive.
func idempotencyScope(ctx context.Context) (workspace, key string, ok bool) {
	md := client.FromContext(ctx).Metadata
	key, ok = single(md.Get(headerIdempotency))
	if !ok || key == "" {
		return "", "", false
	}
	workspace, ok = single(md.Get(headerWorkspace))
	if !ok {
		return "", "", false
	}
	return strings.ToLower(workspace), key, true
}

func single(values []string) (string, bool) {
	if len(values) == 0 {
		return "", true
	}
	v := strings.TrimSpace(values[0])
	for _, o := range values[1:] {
		if strings.TrimSpace(o) != v {
			return "", false
		}
	}
	return v, true
}

// scopedHash is BLAKE3(workspace ‖ 0x00 ‖ key ‖ 0x00 ‖ label ‖ 0x00 ‖ part).
func scopedHash(workspace, key, label string, part []byte) []byte {
	h := blake3.New()
	_, _ = h.WriteString(workspace)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(key)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(label)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(part)
	return h.Sum(nil)
}

// requestKey is the 16-byte identity of one exporter call of a request that carried an Idempotency-Key. part
// tells apart the calls event_router makes of one request (see logsPart); it is empty for metrics and traces.
// ok is false without a key: nothing was promised.
func requestKey(ctx context.Context, signal string, part []byte) (key [wal.KeySize]byte, ok bool) {
	ws, k, ok := idempotencyScope(ctx)
	if !ok {
		return key, false
	}
	copy(key[:], scopedHash(ws, k, signal, part))
	return key, true
}

// logsPart identifies which part of a request a logs call is. event_router passes one request on as one call
// per route, each with the request's key; a route is chosen per record by its event name and whether it passed
// its contract (failed records carry the rejection attribute), so the parts of one request have disjoint sets of
// (event name, rejected) and a retry's parts have the same sets. The encoding is, for each distinct pair in
// byte order of the name (not rejected before rejected): uvarint(len(name)) ‖ name ‖ u8 rejected.
func logsPart(ld plog.Logs) []byte {
	type pair struct {
		name     string
		rejected bool
	}
	seen := map[pair]struct{}{}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				_, rejected := lr.Attributes().Get(rejectionAttr)
				seen[pair{receipts.EventNameOf(lr), rejected}] = struct{}{}
			}
		}
	}
	pairs := make([]pair, 0, len(seen))
	for p := range seen {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(a, b int) bool {
		if pairs[a].name != pairs[b].name {
			return pairs[a].name < pairs[b].name
		}
		return !pairs[a].rejected && pairs[b].rejected
	})
	var out []byte
	for _, p := range pairs {
		out = binary.AppendUvarint(out, uint64(len(p.name)))
		out = append(out, p.name...)
		if p.rejected {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// keyedAlertID names the alert of the record at index ordinal (among all records of the call) of a request
// sent with an Idempotency-Key, so that a retry — with a new correlation id, maybe new timestamps — is
// recognised: "alert-" ‖ hex(BLAKE3(workspace ‖ 0x00 ‖ key ‖ 0x00 ‖ "alert" ‖ 0x00 ‖ part ‖ u64be ordinal)[:16]).
func keyedAlertID(workspace, key string, part []byte, ordinal int) string {
	p := binary.BigEndian.AppendUint64(append([]byte(nil), part...), uint64(ordinal))
	return "alert-" + hex.EncodeToString(scopedHash(workspace, key, "alert", p)[:16])
}
