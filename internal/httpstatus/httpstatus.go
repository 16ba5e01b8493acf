// Package httpstatus maps gRPC status codes to the HTTP status an OTLP/HTTP endpoint answers with, the way the
// collector's OTLP receiver does (InvalidArgument→400, Unauthenticated→401, PermissionDenied→403,
// ResourceExhausted→429, Unavailable→503).
package httpstatus

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// FromGRPC returns the HTTP status for a gRPC code; codes without an OTLP meaning map to 500.
func FromGRPC(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
