// Package mannwhitney is the Mann-Whitney U test (the Wilcoxon rank-sum
// test): whether two samples come from one distribution, without assuming
// its shape. The timing check of sends for known and unknown identifiers
// uses it, as SEC-31 asks; large samples make the normal approximation,
// with its tie and continuity corrections, exact enough.
package mannwhitney

import (
	"math"
	"sort"
)

// Result is the outcome of a test.
type Result struct {
	U float64 // U of the first sample: how often one of its values exceeds one of the second's (ties count half)
	Z float64 // U standardised, with the continuity correction
	P float64 // two-sided p-value
}

// Test compares samples x and y, each of at least one value.
func Test(x, y []float64) Result {
	type obs struct {
		v     float64
		first bool
	}
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSum, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // the mean of ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].first {
				rankSum += rank
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	n1, n2 := float64(len(x)), float64(len(y))
	n := n1 + n2
	u := rankSum - n1*(n1+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 / 12 * (n + 1 - ties/(n*(n-1))))
	if sd == 0 {
		return Result{U: u, P: 1}
	}
	d := u - mean
	d -= math.Copysign(math.Min(0.5, math.Abs(d)), d) // continuity
	z := d / sd
	return Result{U: u, Z: z, P: math.Erfc(math.Abs(z) / math.Sqrt2)}
}

// Median returns the median of xs, which it sorts.
func Median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
