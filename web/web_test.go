package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	ts := httptest.NewServer(Handler())
	defer ts.Close()
	for _, tt := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/", "text/html", `<script src="/ui/app.js"`, 200},
		{"/ui/", "text/html", `<table id="machines">`, 200},
		{"/ui/app.js", "text/javascript", `EventSource(API + "/events?follow=1")`, 200},
		{"/ui/app.css", "text/css", ".screen", 200},
		{"/", "text/html", `<table id="servers">`, 200},
		{"/ui/app.js", "text/javascript", `getJSON("/servers")`, 200},
		{"/ui/missing.js", "", "", 404},
	} {
		resp, err := http.Get(ts.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: CSP %q, X-Frame-Options %q: another site could frame the dashboard's buttons", tt.path, csp, resp.Header.Get("X-Frame-Options"))
		}
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) || !strings.Contains(string(b), tt.body) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.body, strings.Contains(string(b), tt.body))
		}
	}
}
