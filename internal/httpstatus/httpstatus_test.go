package httpstatus

import (
	"testing"

	"google.golang.org/grpc/codes"
)

func TestFromGRPCFollowsTheOTLPMapping(t *testing.T) {
	for code, want := range map[codes.Code]int{
		codes.OK: 200, codes.InvalidArgument: 400, codes.Unauthenticated: 401, codes.PermissionDenied: 403,
		codes.ResourceExhausted: 429, codes.Unavailable: 503, codes.Internal: 500, codes.Unknown: 500,
	} {
		if got := FromGRPC(code); got != want {
			t.Errorf("FromGRPC(%v) = %d, want %d", code, got, want)
		}
	}
}
