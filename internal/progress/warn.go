package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// WarnHandler is a slog.Handler for a command's user: warnings and worse,
// one line each, "rackboot: warning: no checksum to verify ... (file=...)",
// beside the progress of what it does.
func WarnHandler(w io.Writer) slog.Handler { return warnHandler{w: w} }

type warnHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("rackboot: warning: " + r.Message)
	var kv []string
	add := func(a slog.Attr) bool { kv = append(kv, a.Key+"="+a.Value.String()); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if len(kv) > 0 {
		b.WriteString(" (" + strings.Join(kv, ", ") + ")")
	}
	_, err := fmt.Fprintln(h.w, b.String())
	return err
}

func (h warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return warnHandler{w: h.w, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h warnHandler) WithGroup(string) slog.Handler { return h }
