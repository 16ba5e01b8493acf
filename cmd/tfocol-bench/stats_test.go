package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, percentile(d, 50))
	assert.Equal(t, 99*time.Millisecond, percentile(d, 99))
	assert.Equal(t, 100*time.Millisecond, percentile(d, 100))
	assert.Equal(t, time.Millisecond, percentile(d, 0.5))

	// Nearest rank: with 10 samples p99 is the largest, p50 the 5th.
	assert.Equal(t, 10*time.Millisecond, percentile(d[:10], 99))
	assert.Equal(t, 5*time.Millisecond, percentile(d[:10], 50))
	assert.Equal(t, 7*time.Millisecond, percentile(d[6:7], 99))
	assert.Equal(t, time.Duration(0), percentile(nil, 50))
}

func TestSpreadOf(t *testing.T) {
	assert.Equal(t, spread{Min: 1, Median: 3, Max: 9}, spreadOf([]float64{9, 1, 3}))
	assert.Equal(t, spread{Min: 1, Median: 2.5, Max: 4}, spreadOf([]float64{4, 2, 3, 1}))
	in := []float64{3, 1, 2}
	spreadOf(in)
	assert.Equal(t, []float64{3, 1, 2}, in, "input left unsorted")
}

func TestDeliveredRate(t *testing.T) {
	// Batches of 8192 items every 0.8 s (10240 items/s). A 3 s window sees 4 of them; counting the
	// window's items would say 10923/s, from batch to batch it is exact.
	t0 := time.Unix(1000, 0)
	var arr []arrival
	for i := range 4 {
		arr = append(arr, arrival{At: t0.Add(time.Duration(i) * 800 * time.Millisecond), Total: int64(i+1) * 8192})
	}
	assert.InDelta(t, 10240, deliveredRate(arr, 4*8192, 3*time.Second), 0.01)
	// Too few arrivals: items in the window over the window.
	assert.InDelta(t, 8192.0/3, deliveredRate(arr[:2], 8192, 3*time.Second), 0.01)
}
