package mannwhitney_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/latchkeyhq/latchkey/internal/mannwhitney"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestKnownValues checks the test against values worked out by hand (and
// given by SciPy's mannwhitneyu with method="asymptotic").
func TestKnownValues(t *testing.T) {
	r := mannwhitney.Test([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10})
	if r.U != 0 || !near(r.Z, -2.50672, 1e-4) || !near(r.P, 0.012186, 1e-5) {
		t.Fatalf("separated samples: %+v; want U 0, z -2.5067, p 0.01219", r)
	}
	// Ties count half: of the nine pairs, only the two of x's 2s against
	// y's 2 count, half each.
	r = mannwhitney.Test([]float64{1, 2, 2}, []float64{2, 3, 3})
	if r.U != 1 {
		t.Fatalf("tied samples: U %v; want 1", r.U)
	}
	if r := mannwhitney.Test([]float64{4, 4, 4}, []float64{4, 4}); r.P != 1 {
		t.Fatalf("identical values: p %v; want 1", r.P)
	}
}

// TestDistributions checks the test's verdicts on large samples: one
// distribution is not told apart, a small shift is.
func TestDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sample := func(shift float64) []float64 {
		xs := make([]float64, 1000)
		for i := range xs {
			xs[i] = rng.ExpFloat64() + shift
		}
		return xs
	}
	if r := mannwhitney.Test(sample(0), sample(0)); r.P < 0.01 {
		t.Fatalf("one distribution: p %v; want not significant", r.P)
	}
	if r := mannwhitney.Test(sample(0), sample(0.3)); r.P > 1e-6 {
		t.Fatalf("a shift of 0.3: p %v; want it found", r.P)
	}
	if m := mannwhitney.Median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Fatalf("median %v; want 2.5", m)
	}
}
