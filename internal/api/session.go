package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// The dashboard signs in with the API token and gets a session: a cookie
// the browser sends with every request, which a script cannot read
// (HttpOnly) and another site cannot make it send (SameSite=Strict), and a
// CSRF token the page keeps in memory and sends as a header with every
// write. A write with the cookie needs that header, and an Origin, when
// the browser sends one, that is this server's: a forged request from
// another page carries neither. Sessions live in this server's memory
// (signing in again after a restart, or on another server of a cluster,
// is the price of keeping no secret in the store), end after SessionTTL,
// at sign-out, and when the API token is rotated.
const (
	SessionCookie = "rackboot_session"
	CSRFHeader    = "X-CSRF-Token"
	SessionTTL    = 12 * time.Hour
	maxSessions   = 1024
)

// Wrong tokens at POST /session are throttled per client address: a
// client may get signInBurst wrong in a row, then one more every
// signInEvery. The token (192 bits) is not guessable; the limit keeps a
// guesser from filling the log and the CPU, and says plainly what is
// going on (429 with Retry-After) to a script with a stale token.
const (
	signInBurst   = 10
	signInEvery   = 6 * time.Second
	maxSignInHeld = 4096 // clients remembered; the oldest is forgotten first
)

// signInFailures counts recent wrong tokens by client address.
type signInFailures struct {
	mu  sync.Mutex
	by  map[string]*failures
	now func() time.Time
}

type failures struct {
	n    float64   // wrong tokens, less one per signInEvery since last
	last time.Time // when n was last brought up to date
}

// decayed brings f up to now.
func (f *failures) decayed(now time.Time) float64 {
	f.n = max(0, f.n-float64(now.Sub(f.last))/float64(signInEvery))
	f.last = now
	return f.n
}

// wait is how long client must wait before its next try (0: it may try).
func (sf *signInFailures) wait(client string) time.Duration {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	f, ok := sf.by[client]
	if !ok {
		return 0
	}
	n := f.decayed(sf.now())
	if n < signInBurst {
		return 0
	}
	return time.Duration((n - signInBurst + 1) * float64(signInEvery))
}

// failed counts a wrong token from client.
func (sf *signInFailures) failed(client string) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	now := sf.now()
	if sf.by == nil {
		sf.by = map[string]*failures{}
	}
	f, ok := sf.by[client]
	if !ok {
		if len(sf.by) >= maxSignInHeld {
			var oldest string
			for k, v := range sf.by {
				if oldest == "" || v.last.Before(sf.by[oldest].last) {
					oldest = k
				}
			}
			delete(sf.by, oldest)
		}
		f = &failures{last: now}
		sf.by[client] = f
	}
	f.decayed(now)
	f.n++
}

// succeeded forgets client's wrong tokens.
func (sf *signInFailures) succeeded(client string) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	delete(sf.by, client)
}

// clientAddr is the address a request came from, without its port: the
// throttle's key (every port of a host is the same guesser).
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Sessions are the dashboard's signed-in browsers.
type Sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
	// wrong are the recent wrong tokens at sign-in, by client.
	wrong signInFailures
}

type session struct {
	csrf    string
	token   [32]byte // the API token's hash when it began: a rotated token ends it
	expires time.Time
}

// SessionInfo answers GET and POST /session.
type SessionInfo struct {
	SignedIn  bool      `json:"signed_in"`
	CSRFToken string    `json:"csrf_token,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}

// SignInRequest is the body of POST /session.
type SignInRequest struct {
	Token string `json:"token"`
}

func (ss *Sessions) clock() time.Time {
	if ss.now != nil {
		return ss.now()
	}
	return time.Now()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// start makes a session for a browser that gave the token tok.
func (ss *Sessions) start(tok string) (id string, s session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID == nil {
		ss.byID = map[string]*session{}
	}
	now := ss.clock()
	for k, v := range ss.byID {
		if now.After(v.expires) {
			delete(ss.byID, k)
		}
	}
	if len(ss.byID) >= maxSessions {
		var oldest string
		for k, v := range ss.byID {
			if oldest == "" || v.expires.Before(ss.byID[oldest].expires) {
				oldest = k
			}
		}
		delete(ss.byID, oldest)
	}
	id = randomHex(32)
	s = session{csrf: randomHex(24), token: sha256.Sum256([]byte(tok)), expires: now.Add(SessionTTL)}
	ss.byID[id] = &s
	return id, s
}

// lookup returns the request's live session, if it has one.
func (ss *Sessions) lookup(r *http.Request, tok string) (session, string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return session{}, "", false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[c.Value]
	if !ok {
		return session{}, "", false
	}
	if ss.clock().After(s.expires) || tok == "" || sha256.Sum256([]byte(tok)) != s.token {
		delete(ss.byID, c.Value)
		return session{}, "", false
	}
	return *s, c.Value, true
}

func (ss *Sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// errForged is a write that has the session cookie but not the proof that
// the dashboard itself sent it.
var errForged = errors.New("forged request")

// check says whether r is authorized by a session: (false, nil) when it
// has none, a 403 *Error naming errForged when it has one but fails the
// CSRF or Origin checks (writes only).
func (ss *Sessions) check(r *http.Request, tok string) (bool, error) {
	s, _, ok := ss.lookup(r, tok)
	if !ok {
		return false, nil
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true, nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return false, Errorf(http.StatusForbidden, "%v: a write with the dashboard's session needs its %s header: reload the dashboard", errForged, CSRFHeader)
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
		return false, Errorf(http.StatusForbidden, "%v: Origin %s is not this server", errForged, o)
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false, Errorf(http.StatusForbidden, "%v: sent by another site", errForged)
	}
	return true, nil
}

// sameOrigin reports whether the Origin header names the host the request
// was sent to.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && u.Host == r.Host
}

// EnableSessions lets the dashboard sign in, and mounts /session, open to
// everyone (it is how one signs in):
//
//	GET    /session    SessionInfo: signed in? and the CSRF token (for a reloaded page)
//	POST   /session    SignInRequest ─▶ SessionInfo, and the session cookie
//	DELETE /session    sign out (with the CSRF token)
func (s *Server) EnableSessions() {
	s.Sessions = &Sessions{}
	ss := s.Sessions
	ss.wrong.now = ss.clock
	s.mux.HandleFunc("GET "+Prefix+"/session", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, _, ok := ss.lookup(r, s.token())
		if !ok {
			WriteJSON(w, http.StatusOK, SessionInfo{})
			return
		}
		WriteJSON(w, http.StatusOK, SessionInfo{SignedIn: true, CSRFToken: sess.csrf, Expires: sess.expires})
	})
	s.mux.HandleFunc("POST "+Prefix+"/session", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
			s.refused(r, RefusedForged)
			s.writeError(w, r, Errorf(http.StatusForbidden, "sign in from this server's own dashboard (Origin %s)", o))
			return
		}
		client := clientAddr(r)
		if wait := ss.wrong.wait(client); wait > 0 {
			s.refused(r, RefusedThrottled)
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.writeError(w, r, Errorf(http.StatusTooManyRequests,
				"too many wrong tokens from %s: try again in %d s", client, secs))
			return
		}
		var req SignInRequest
		if err := DecodeJSON(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		want := s.token()
		if want == "" || subtle.ConstantTimeCompare([]byte(req.Token), []byte(want)) != 1 {
			ss.wrong.failed(client)
			s.refused(r, RefusedSignIn)
			s.writeError(w, r, Errorf(http.StatusUnauthorized, "that is not the API token (it is in the data directory's api-token file, or ask rackboot token rotate)"))
			return
		}
		ss.wrong.succeeded(client)
		id, sess := ss.start(want)
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
			Secure: r.TLS != nil, Expires: sess.expires, MaxAge: int(SessionTTL.Seconds())})
		if s.Logger != nil {
			s.Logger.Info("dashboard signed in", "client", r.RemoteAddr)
		}
		WriteJSON(w, http.StatusOK, SessionInfo{SignedIn: true, CSRFToken: sess.csrf, Expires: sess.expires})
	})
	s.mux.HandleFunc("DELETE "+Prefix+"/session", func(w http.ResponseWriter, r *http.Request) {
		ok, err := ss.check(r, s.token())
		if err != nil {
			s.refused(r, RefusedForged)
			s.writeError(w, r, err)
			return
		}
		if ok {
			_, id, _ := ss.lookup(r, s.token())
			ss.end(id)
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
}
