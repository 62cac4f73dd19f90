package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"
)

// interruptContext is the context every command runs in: it ends on
// SIGINT or SIGTERM (context.Cause says which), so that servers shut down
// cleanly and blocked reads and requests end with a one-line error. It
// installs the signal handler only when something first waits for it to
// end (Done): a command that never blocks, such as printing a cached
// token, runs without the handler's thread and system calls, and a
// signal ends it the default way, which costs it nothing to lose.
// Everything that can block (a request, a server, a read of a FIFO, a
// wait) selects on Done first, and with it installs the handler.
type interruptContext struct {
	parent  context.Context
	signals []os.Signal
	watch   func() context.Context // sync.OnceValue: signal.NotifyContext
	stop    context.CancelFunc     // set by watch
	watched atomic.Bool
}

func newInterruptContext(parent context.Context, signals ...os.Signal) *interruptContext {
	c := &interruptContext{parent: parent, signals: signals}
	c.watch = sync.OnceValue(func() context.Context {
		ctx, stop := signal.NotifyContext(parent, c.signals...)
		c.stop = stop
		c.watched.Store(true)
		return ctx
	})
	return c
}

// current is the context that answers: the parent until the handler is
// installed.
func (c *interruptContext) current() context.Context {
	if c.watched.Load() {
		return c.watch()
	}
	return c.parent
}

func (c *interruptContext) Done() <-chan struct{} { return c.watch().Done() }

// Err, Deadline and Value do not install the handler: before it is
// installed, no signal can have ended the context.
func (c *interruptContext) Err() error                       { return c.current().Err() }
func (c *interruptContext) Value(key any) any                { return c.current().Value(key) }
func (c *interruptContext) Deadline() (d time.Time, ok bool) { return c.current().Deadline() }

// Stop uninstalls the handler, if it was installed.
func (c *interruptContext) Stop() {
	if c.watched.Load() {
		c.watch()
		c.stop()
	}
}
