package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
