package boltstore

import (
	"context"
	"strings"
	"sync"

	"rackboot/internal/store"
)

// hub fans committed events out to watchers. publish never blocks: each
// watcher has its own unbounded queue drained by its own goroutine.
type hub struct {
	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}
}

type watcher struct {
	prefix string
	out    chan store.Event
	wake   chan struct{} // capacity 1: "the queue has something"
	stop   chan struct{} // closed by hub.close

	mu    sync.Mutex
	queue []store.Event
}

func (h *hub) init() { h.watchers = make(map[*watcher]struct{}) }

func (h *hub) watch(ctx context.Context, prefix string) <-chan store.Event {
	w := &watcher{
		prefix: prefix,
		out:    make(chan store.Event),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(w.out)
		return w.out
	}
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	go h.run(ctx, w)
	return w.out
}

// run delivers w's queue in order until ctx is done or the hub closes.
func (h *hub) run(ctx context.Context, w *watcher) {
	defer func() {
		h.mu.Lock()
		delete(h.watchers, w)
		h.mu.Unlock()
		close(w.out)
	}()
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, ev := range batch {
			select {
			case w.out <- ev:
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			}
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		}
	}
}

func (h *hub) publish(events []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		n := 0
		w.mu.Lock()
		for _, ev := range events {
			if strings.HasPrefix(ev.Key, w.prefix) {
				w.queue = append(w.queue, ev)
				n++
			}
		}
		w.mu.Unlock()
		if n > 0 {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.watchers {
		close(w.stop)
	}
}
