package workspaceprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTraceIDFromTraceparent(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for tp, want := range map[string]string{
		"00-" + id + "-00f067aa0ba902b7-01":              id,
		"00-" + id + "-00f067aa0ba902b7-00":              id, // not sampled is still a trace
		"01-" + id + "-00f067aa0ba902b7-01-future-field": id, // later versions may append fields
		"00-" + id + "-00f067aa0ba902b7-01-extra":        "", // version 00 has exactly four fields
		"ff-" + id + "-00f067aa0ba902b7-01":              "", // version ff is invalid
		"00-" + id + "-0000000000000000-01":              "", // zero parent id
		"00-" + id[:30] + "-00f067aa0ba902b7-01":         "",
		"00-" + id + "-00f067aa0ba902b7":                 "",
		"00-" + id + "-00f067aa0ba902bz-01":              "",
		"":                                               "",
	} {
		got, ok := traceIDFromTraceparent(tp)
		assert.Equal(t, want != "", ok, tp)
		assert.Equal(t, want, got, tp)
	}
}
