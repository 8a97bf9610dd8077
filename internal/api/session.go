package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
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

// Sessions are the dashboard's signed-in browsers.
type Sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
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
// has none, an error wrapping errForged when it has one but fails the CSRF
// or Origin checks (writes only).
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
			s.writeError(w, r, Errorf(http.StatusForbidden, "sign in from this server's own dashboard (Origin %s)", o))
			return
		}
		var req SignInRequest
		if err := DecodeJSON(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		want := s.token()
		if want == "" || subtle.ConstantTimeCompare([]byte(req.Token), []byte(want)) != 1 {
			if s.Logger != nil {
				s.Logger.Warn("dashboard sign-in refused: wrong token", "client", r.RemoteAddr)
			}
			s.writeError(w, r, Errorf(http.StatusUnauthorized, "that is not the API token (it is in the data directory's api-token file, or ask rackboot token rotate)"))
			return
		}
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
