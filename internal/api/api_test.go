package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestAuthAndErrors(t *testing.T) {
	tokens, created, err := LoadTokens(t.TempDir())
	if err != nil || !created {
		t.Fatal(err, created)
	}
	for _, openReads := range []bool{false, true} {
		s := &Server{Token: tokens.Token, OpenReads: openReads}
		s.Handle("GET /things", func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, 200, map[string]int{"n": 1})
		})
		s.Handle("POST /things", func(w http.ResponseWriter, r *http.Request) error {
			var in struct{ Name string }
			if err := DecodeJSON(r, &in); err != nil {
				return err
			}
			if in.Name == "" {
				return Errorf(http.StatusUnprocessableEntity, "name: must not be empty")
			}
			return WriteJSON(w, 201, in)
		})
		ts := httptest.NewServer(s)
		ctx := context.Background()
		anon := &Client{Base: ts.URL}
		authed := &Client{Base: ts.URL, Token: tokens.Token()}
		wrong := &Client{Base: ts.URL, Token: "rbt_wrong"}

		status := func(err error) int {
			var e *Error
			if errors.As(err, &e) {
				return e.Status
			}
			if err != nil {
				t.Fatalf("not an API error: %v", err)
			}
			return 200
		}
		var out map[string]any
		wantRead := 401
		if openReads {
			wantRead = 200
		}
		for _, tc := range []struct {
			c      *Client
			method string
			in     any
			want   int
		}{
			{anon, "GET", nil, wantRead},
			{authed, "GET", nil, 200},
			{anon, "POST", map[string]string{"Name": "x"}, 401},
			{wrong, "POST", map[string]string{"Name": "x"}, 401},
			{authed, "POST", map[string]string{"Name": "x"}, 200},
			{authed, "POST", map[string]string{"Name": ""}, 422},
			{authed, "POST", map[string]string{"Nmae": "x"}, 400},
		} {
			if got := status(tc.c.Do(ctx, tc.method, "/things", tc.in, &out)); got != tc.want {
				t.Errorf("openReads=%v %s token=%q %v: status %d, want %d", openReads, tc.method, tc.c.Token, tc.in, got, tc.want)
			}
		}
		err := authed.Do(ctx, "GET", "/nothing", nil, nil)
		if e := new(Error); !errors.As(err, &e) || e.Status != 404 || e.Message == "" {
			t.Errorf("unknown route: %v", err)
		}
		ts.Close()
	}
}

func TestTokensPersistAndRotate(t *testing.T) {
	dir := t.TempDir()
	a, created, err := LoadTokens(dir)
	if err != nil || !created {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, TokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode())
	}
	b, created, err := LoadTokens(dir)
	if err != nil || created || b.Token() != a.Token() {
		t.Fatalf("reload: %v %v %q vs %q", err, created, b.Token(), a.Token())
	}
	old := a.Token()
	if _, err := a.Rotate(); err != nil || a.Token() == old {
		t.Fatal("rotate did not change the token", err)
	}
	c, _, _ := LoadTokens(dir)
	if c.Token() != a.Token() {
		t.Error("rotated token not stored")
	}
}
