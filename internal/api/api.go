// Package api is the frame of rackboot's HTTP API under /api/v1: routing,
// bearer-token authentication for writes, JSON bodies and JSON errors. The
// resources (machines, events, platforms, menu) register their handlers on it
// from their own files; this file knows none of them.
package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"rackboot/internal/store/etcdstore"
)

// Prefix is where the API lives.
const Prefix = "/api/v1"

// Server routes API requests.
type Server struct {
	// Token returns the bearer token writes must carry; it is a func so that
	// a rotated token takes effect without a restart.
	Token func() string
	// OpenReads lets GET requests through without a token (a trusted boot
	// network, and the dashboard without a login).
	OpenReads bool
	Logger    *slog.Logger
	// Sessions, set by EnableSessions, lets the dashboard sign in with the
	// token and write with a session cookie and a CSRF token (session.go).
	Sessions *Sessions
	// OnRefused, if set, is told every request refused for its
	// credentials (metrics), by reason: RefusedNoToken, RefusedBadToken,
	// RefusedForged, RefusedSignIn, RefusedThrottled.
	OnRefused func(reason string)
	mux       http.ServeMux
}

// Why a request was refused for its credentials (Server.OnRefused).
const (
	RefusedNoToken   = "no-token"  // no token and no session
	RefusedBadToken  = "bad-token" // an Authorization: Bearer that is not the token
	RefusedForged    = "forged"    // a session's write without its CSRF token, or from another site
	RefusedSignIn    = "sign-in"   // POST /session with a wrong token
	RefusedThrottled = "throttled" // POST /session from a client with too many wrong tokens lately
)

func (s *Server) refused(r *http.Request, reason string) {
	if s.OnRefused != nil {
		s.OnRefused(reason)
	}
	if s.Logger != nil && reason != RefusedNoToken {
		// A missing token is a reader's mistake; a wrong one may be someone guessing.
		s.Logger.Warn("api request refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "client", r.RemoteAddr)
	}
}

// HandlerFunc is an API handler. Returning an error writes it as JSON: an
// *Error keeps its status, anything else is a 500.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is an API error with its HTTP status.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return e.Message }

// Errorf makes an *Error.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Handle registers h for pattern ("GET /machines/{mac}", below Prefix).
// Methods other than GET and HEAD need the token.
func (s *Server) Handle(pattern string, h HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("api: pattern needs a method: " + pattern)
	}
	s.mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		if !(read && s.OpenReads) {
			if err := s.authorize(r); err != nil {
				s.refused(r, refusedReason(r, err))
				w.Header().Set("WWW-Authenticate", `Bearer realm="rackboot"`)
				s.writeError(w, r, err)
				return
			}
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler; unknown API paths get a JSON 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeError(w, r, Errorf(http.StatusNotFound, "no API route %s %s", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Authorized reports whether r carries the API token (or a dashboard
// session's proof, session.go); handlers of open reads use it to leave
// secrets out for anonymous readers.
func (s *Server) Authorized(r *http.Request) bool { return s.authorize(r) == nil }

// authorize is nil when r carries the API token or a signed-in dashboard's
// session (with its CSRF token for writes), else the error to answer.
func (s *Server) authorize(r *http.Request) error {
	want := s.token()
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
		return nil
	}
	if s.Sessions != nil {
		if ok, err := s.Sessions.check(r, want); ok || err != nil {
			return err
		}
	}
	return Errorf(http.StatusUnauthorized,
		"this needs the API token: pass --token or set RACKBOOT_TOKEN (it is in the data directory's api-token file), or sign in on the dashboard")
}

// refusedReason sorts an authorize error for OnRefused.
func refusedReason(r *http.Request, err error) string {
	var e *Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusForbidden: // Sessions.check
		return RefusedForged
	case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		return RefusedBadToken
	}
	return RefusedNoToken
}

func (s *Server) token() string {
	if s.Token == nil {
		return ""
	}
	return s.Token()
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, etcdstore.ErrUnavailable):
		// No quorum, or no member reachable: the request may succeed once
		// etcd is back, and the message says so.
		w.Header().Set("Retry-After", "5")
		e = &Error{Status: http.StatusServiceUnavailable, Message: "the store is unavailable, try again when etcd has its quorum back: " + err.Error()}
		if s.Logger != nil {
			s.Logger.Warn("api request refused: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	default:
		e = &Error{Status: http.StatusInternalServerError, Message: err.Error()}
		if s.Logger != nil {
			s.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	WriteJSON(w, e.Status, e)
}

// WriteJSON writes v as an indented JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// DecodeJSON reads a JSON request body into v, refusing unknown fields so
// that a typo in a PATCH is an error rather than a silent no-op.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, "request body: %v", err)
	}
	return nil
}
