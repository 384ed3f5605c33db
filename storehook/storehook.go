// Package storehook wraps a latchkey.Store so that every call to it runs
// through hooks: the one seam where concerns that apply to all database
// work (a deadline on each call, and later its latency and its trace span)
// are added, each in one place, without touching the stores or the
// business code that calls them.
//
// A Hook sees the call's context, the name of the Store method (its op)
// and the call itself, which it must run at most once, with the context it
// chooses, and whose error it returns or replaces. Wrap composes hooks in
// order: the first is the outermost.
package storehook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Hook runs one store call. op is the Store method's name, such as
// "GetApp".
type Hook func(ctx context.Context, op string, call func(ctx context.Context) error) error

// Store is a latchkey.Store whose every call goes through its hooks. The
// embedded store serves only methods Store does not override yet: the
// package test fails for any such method, so a method added to the
// contract is never silently left without its deadline.
type Store struct {
	latchkey.Store
	hook Hook
}

var _ latchkey.Store = (*Store)(nil)

// Wrap returns next with hooks around every call, the first hook
// outermost. Close is passed through as is.
func Wrap(next latchkey.Store, hooks ...Hook) *Store {
	return &Store{Store: next, hook: chain(hooks)}
}

// chain composes hooks into one, the first outermost.
func chain(hooks []Hook) Hook {
	h := func(ctx context.Context, _ string, call func(context.Context) error) error { return call(ctx) }
	for i := len(hooks) - 1; i >= 0; i-- {
		outer, inner := hooks[i], h
		h = func(ctx context.Context, op string, call func(context.Context) error) error {
			return outer(ctx, op, func(ctx context.Context) error { return inner(ctx, op, call) })
		}
	}
	return h
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() latchkey.Store { return s.Store }

// Deadline bounds every store call by d. A call that runs out of time
// fails with latchkey.ErrUnavailable, whatever error the driver made of
// the expired context, so that callers answer 503 instead of hanging or
// answering 500. A call whose caller went away (its context cancelled)
// keeps its own error.
func Deadline(d time.Duration) Hook {
	return func(ctx context.Context, op string, call func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		err := call(ctx)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The cause is kept as text only: a driver error chained with
			// %w could make the call look like a NotFound or a Conflict.
			return fmt.Errorf("%w: %s: no answer within %s (%v)", latchkey.ErrUnavailable, op, d, err)
		}
		return err
	}
}

// do runs one call through the hooks.
func (s *Store) do(ctx context.Context, op string, call func(context.Context) error) error {
	return s.hook(ctx, op, call)
}

// value runs a call that returns a value through the hooks.
func value[T any](s *Store, ctx context.Context, op string, call func(context.Context) (T, error)) (T, error) {
	var out T
	err := s.hook(ctx, op, func(ctx context.Context) error {
		var err error
		out, err = call(ctx)
		return err
	})
	return out, err
}

// pair runs a call that returns two values through the hooks.
func pair[T, U any](s *Store, ctx context.Context, op string, call func(context.Context) (T, U, error)) (T, U, error) {
	var (
		t T
		u U
	)
	err := s.hook(ctx, op, func(ctx context.Context) error {
		var err error
		t, u, err = call(ctx)
		return err
	})
	return t, u, err
}
