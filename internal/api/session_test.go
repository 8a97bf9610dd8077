package api

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSessions: the dashboard signs in with the token and writes with its
// cookie and CSRF token; a write without the session, without or with a
// wrong CSRF token, or from another Origin is refused; rotating the token
// ends the session.
func TestSessions(t *testing.T) {
	tokens, _, err := LoadTokens(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Token: tokens.Token, OpenReads: true}
	s.EnableSessions()
	s.Handle("POST /things", func(w http.ResponseWriter, r *http.Request) error {
		return WriteJSON(w, 201, map[string]string{"ok": "yes"})
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	do := func(method, path, body string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+Prefix+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, body := do("POST", "/session", `{"token":"rbt_wrong"}`, nil); resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do("POST", "/session", `{"token":"`+tokens.Token()+`"}`, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != 403 {
		t.Errorf("sign-in from another origin: %d", resp.StatusCode)
	}
	resp, body := do("POST", "/session", `{"token":"`+tokens.Token()+`"}`, map[string]string{"Origin": ts.URL})
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %d %s", resp.StatusCode, body)
	}
	c := resp.Cookies()[0]
	if c.Name != SessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
	}
	if strings.Contains(body, tokens.Token()) || strings.Contains(body, c.Value) {
		t.Errorf("sign-in answer holds the token or the session id: %s", body)
	}
	var info SessionInfo
	json.Unmarshal([]byte(body), &info)
	if !info.SignedIn || info.CSRFToken == "" {
		t.Fatalf("session info %+v", info)
	}
	cookie := SessionCookie + "=" + c.Value
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no session", map[string]string{"Origin": ts.URL}, 401},
		{"session and CSRF token", map[string]string{"Cookie": cookie, CSRFHeader: info.CSRFToken, "Origin": ts.URL}, 201},
		{"session, no Origin (curl)", map[string]string{"Cookie": cookie, CSRFHeader: info.CSRFToken}, 201},
		{"session without CSRF token", map[string]string{"Cookie": cookie, "Origin": ts.URL}, 403},
		{"session with a wrong CSRF token", map[string]string{"Cookie": cookie, CSRFHeader: "x" + info.CSRFToken, "Origin": ts.URL}, 403},
		{"session from another origin", map[string]string{"Cookie": cookie, CSRFHeader: info.CSRFToken, "Origin": "http://evil.example"}, 403},
		{"session sent cross-site", map[string]string{"Cookie": cookie, CSRFHeader: info.CSRFToken, "Sec-Fetch-Site": "cross-site"}, 403},
		{"a made-up session", map[string]string{"Cookie": SessionCookie + "=deadbeef", CSRFHeader: info.CSRFToken}, 401},
	} {
		if resp, body := do("POST", "/things", "{}", tc.hdr); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	// A reloaded page reads its CSRF token back; an anonymous one learns nothing.
	if _, body := do("GET", "/session", "", map[string]string{"Cookie": cookie}); !strings.Contains(body, info.CSRFToken) {
		t.Errorf("GET /session with the cookie: %s", body)
	}
	if _, body := do("GET", "/session", "", nil); strings.Contains(body, "csrf") || !strings.Contains(body, `"signed_in": false`) {
		t.Errorf("GET /session without it: %s", body)
	}
	// A rotated token ends every session.
	if _, err := tokens.Rotate(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do("POST", "/things", "{}", map[string]string{"Cookie": cookie, CSRFHeader: info.CSRFToken}); resp.StatusCode != 401 {
		t.Errorf("after rotation: %d, want 401", resp.StatusCode)
	}
}

// TestRefusalsCounted: every request refused for its credentials is told
// to OnRefused with its reason, and a client that gives too many wrong
// tokens at sign-in is throttled (429, Retry-After) while another client
// and, once the wait is over, the same one can still sign in.
func TestRefusalsCounted(t *testing.T) {
	tokens, _, err := LoadTokens(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[string]int{}
	s := &Server{Token: tokens.Token, OnRefused: func(reason string) { mu.Lock(); refused[reason]++; mu.Unlock() }}
	s.EnableSessions()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	s.Sessions.now = func() time.Time { return now }
	s.Handle("POST /things", func(w http.ResponseWriter, r *http.Request) error { return nil })
	do := func(method, path, body, client string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, Prefix+path, strings.NewReader(body))
		req.RemoteAddr = client
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w
	}
	const guesser, other = "192.0.2.7:40000", "192.0.2.8:40000"
	do("POST", "/things", "{}", other, nil)
	do("POST", "/things", "{}", other, map[string]string{"Authorization": "Bearer rbt_wrong"})
	do("POST", "/things", "{}", other, map[string]string{"Cookie": SessionCookie + "=x"})
	for i := range signInBurst {
		// Each try from a new port: the throttle is by address.
		if w := do("POST", "/session", `{"token":"rbt_wrong"}`, fmt.Sprintf("192.0.2.7:%d", 40000+i), nil); w.Code != 401 {
			t.Fatalf("wrong token %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := do("POST", "/session", `{"token":"`+tokens.Token()+`"}`, guesser, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d wrong tokens, even the right one: %d %s (Retry-After %q), want 429", signInBurst, w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), tokens.Token()) {
		t.Errorf("429 answer holds the token: %s", w.Body)
	}
	w = do("POST", "/session", `{"token":"`+tokens.Token()+`"}`, other, nil)
	if w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Fatalf("another client: %d %s", w.Code, w.Body)
	}
	cookie := SessionCookie + "=" + w.Result().Cookies()[0].Value
	if w := do("POST", "/things", "{}", other, map[string]string{"Cookie": cookie}); w.Code != 403 {
		t.Errorf("a session's write without its CSRF token: %d", w.Code)
	}
	if w := do("DELETE", "/session", "", other, map[string]string{"Cookie": cookie}); w.Code != 403 {
		t.Errorf("a sign-out without its CSRF token: %d", w.Code)
	}
	if w := do("POST", "/session", `{"token":"`+tokens.Token()+`"}`, other, map[string]string{"Origin": "http://evil.example"}); w.Code != 403 {
		t.Errorf("a sign-in from another site: %d", w.Code)
	}
	now = now.Add(signInEvery)
	if w := do("POST", "/session", `{"token":"`+tokens.Token()+`"}`, guesser, nil); w.Code != 200 {
		t.Errorf("after waiting %v: %d %s", signInEvery, w.Code, w.Body)
	}
	want := map[string]int{RefusedNoToken: 2, RefusedBadToken: 1, RefusedForged: 3, RefusedSignIn: signInBurst, RefusedThrottled: 1}
	mu.Lock()
	defer mu.Unlock()
	if !maps.Equal(refused, want) {
		t.Errorf("refusals %v, want %v", refused, want)
	}
}
