package durablelog

import (
	"context"
	"time"
)

// Delivery describes the log entry that one consumer call of a tfo_log receiver carries. The receiver puts it
// in the call's context; consumers that keep state derived from the entry beyond the call (the receipt
// exporter's open windows) Hold the entry so the receiver's cursor does not pass it until that state is sealed.
type Delivery struct {
	// Seq is the entry's sequence number in the log (contiguous, starting at 1).
	Seq uint64
	// Arrival is the time the log committed the entry (Unix ns). Arrival never decreases along the log, so a
	// consumer that derives decisions from it (window assignment) makes the same ones when it replays.
	Arrival int64
	// Stream is the consumer's cursor on the log.
	Stream Stream
	// Payload is the entry's bytes as logged (an OTLP export request) when the call carries exactly that one
	// entry, nil when the receiver merged several. Consumers that need the request's encoding (the receipt
	// exporter cuts its leaves from it) use it instead of marshaling the data again; it must not be modified.
	Payload []byte
}

// Stream is what a consumer may ask of its cursor.
type Stream interface {
	// Hold keeps the cursor from being committed past seq until release is called (once; later calls are
	// no-ops). An entry that is not held is committed when the call that delivered it returns nil.
	Hold(seq uint64) (release func())
	// Watermark is a time before which every entry of the log has been delivered to this consumer: the arrival
	// of the last entry delivered, or, while the consumer is caught up with the log's head, the present.
	Watermark() time.Time
}

type deliveryKey struct{}

// WithDelivery returns ctx carrying d.
func WithDelivery(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// DeliveryFrom returns the Delivery in ctx, if any.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}
