// Package web is rackboot's dashboard: one HTML page, a stylesheet and a
// script, embedded in the binary (no build step). The page reads the JSON
// API under /api/v1 and follows its live event stream; it has no state of
// its own.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the dashboard: the page at / and its assets under /ui/.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// The page has power buttons: no other site may frame it to steer
		// a click (frame-ancestors is not covered by default-src), nor
		// may a form on it post elsewhere.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		w.Header().Set("X-Frame-Options", "DENY") // browsers without CSP 2
		if r.URL.Path == "/" || r.URL.Path == "/ui/" {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		http.StripPrefix("/ui", files).ServeHTTP(w, r)
	})
}
