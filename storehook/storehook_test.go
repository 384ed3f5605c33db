package storehook_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storehook"
)

var errStopped = errors.New("stopped by the hook")

// TestEveryMethodRunsThroughTheHooks calls every method of the Store
// contract on a wrapper around no store at all, through a hook that
// records the op and never calls through: a method the wrapper does not
// override reaches the missing store and panics, and one that names the
// wrong op is caught by its name.
func TestEveryMethodRunsThroughTheHooks(t *testing.T) {
	var ops []string
	record := func(_ context.Context, op string, _ func(context.Context) error) error {
		ops = append(ops, op)
		return errStopped
	}
	wrapped := reflect.ValueOf(storehook.Wrap(nil, record))
	contract := reflect.TypeFor[latchkey.Store]()
	for i := range contract.NumMethod() {
		m := contract.Method(i)
		if m.Name == "Close" {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			ops = nil
			results, panicked := call(wrapped.MethodByName(m.Name))
			if panicked != nil {
				t.Fatalf("%s bypasses the hooks (it reached the wrapped store: %v); add it to methods.go", m.Name, panicked)
			}
			if !slices.Equal(ops, []string{m.Name}) {
				t.Fatalf("%s ran the hooks as %q; want once, as %q", m.Name, ops, m.Name)
			}
			if err, _ := results[len(results)-1].Interface().(error); !errors.Is(err, errStopped) {
				t.Fatalf("%s returned %v; want the hook's error", m.Name, err)
			}
		})
	}
}

// call calls fn with a background context and zero values for its other
// arguments, and reports a panic instead of raising it.
func call(fn reflect.Value) (results []reflect.Value, panicked any) {
	defer func() { panicked = recover() }()
	args := []reflect.Value{reflect.ValueOf(context.Background())}
	for i := 1; i < fn.Type().NumIn(); i++ {
		args = append(args, reflect.Zero(fn.Type().In(i)))
	}
	return fn.Call(args), nil
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hook.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background(), rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHooksComposeFirstOutermost(t *testing.T) {
	var trace []string
	hook := func(name string) storehook.Hook {
		return func(ctx context.Context, op string, call func(context.Context) error) error {
			trace = append(trace, name+" before "+op)
			err := call(ctx)
			trace = append(trace, name+" after "+op)
			return err
		}
	}
	s := storehook.Wrap(openStore(t), hook("a"), hook("b"))
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"a before Ping", "b before Ping", "b after Ping", "a after Ping"}
	if !slices.Equal(trace, want) {
		t.Fatalf("hooks ran as %q; want %q", trace, want)
	}
	if _, err := s.GetApp(context.Background(), "missing"); !errors.Is(err, latchkey.ErrNotFound) {
		t.Fatalf("GetApp of a missing app through the hooks: %v; want the store's ErrNotFound unchanged", err)
	}
}

// TestDeadlineMakesACallThatRunsOutOfTimeUnavailable checks the deadline
// hook on calls that outlive it, whatever error the expired context
// became, and leaves other errors alone.
func TestDeadlineMakesACallThatRunsOutOfTimeUnavailable(t *testing.T) {
	deadline := storehook.Deadline(20 * time.Millisecond)
	waitForDeadline := func(wrap func(error) error) func(context.Context) error {
		return func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("the call has no deadline")
			}
			<-ctx.Done()
			return wrap(ctx.Err())
		}
	}
	for name, wrap := range map[string]func(error) error{
		"the context's error":        func(err error) error { return err },
		"a driver error":             func(err error) error { return fmt.Errorf("driver: i/o timeout after %v", err) },
		"an error that says missing": func(err error) error { return fmt.Errorf("%w (%v)", latchkey.ErrNotFound, err) },
	} {
		t.Run(name, func(t *testing.T) {
			err := deadline(context.Background(), "GetApp", waitForDeadline(wrap))
			if !errors.Is(err, latchkey.ErrUnavailable) || errors.Is(err, latchkey.ErrNotFound) ||
				latchkey.ErrorCode(err) != latchkey.CodeUnavailable {
				t.Fatalf("a call past its deadline returned %v; want only ErrUnavailable", err)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := deadline(ctx, "GetApp", waitForDeadline(func(err error) error { return err })); !errors.Is(err, context.Canceled) ||
		errors.Is(err, latchkey.ErrUnavailable) {
		t.Fatalf("a call whose caller went away returned %v; want context.Canceled, not unavailable", err)
	}
	if err := deadline(context.Background(), "GetApp", func(context.Context) error { return latchkey.ErrNotFound }); !errors.Is(err, latchkey.ErrNotFound) {
		t.Fatalf("a call that failed in time returned %v; want its own error", err)
	}
}
