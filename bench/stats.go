package bench

import (
	"math"
	"slices"
)

// Summary is what a cell's runs come to.
type Summary struct {
	Median, Min, Max float64
}

// summarizeRuns returns the median (the mean of the middle two for an even
// count), minimum and maximum of xs; NaN for no runs.
func summarizeRuns(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[n-1]}
}

// ratio is a/b, or nil when either is missing or b is zero.
func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 || math.IsNaN(*a) || math.IsNaN(*b) {
		return nil
	}
	r := *a / *b
	return &r
}
