package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"rackboot/internal/store/etcdstore"
)

// TestStoreUnavailableIs503: a handler failing with etcd unavailable (no
// quorum) answers 503 with Retry-After and a message that says so, not a
// vague 500.
func TestStoreUnavailableIs503(t *testing.T) {
	s := &Server{OpenReads: true}
	s.Handle("GET /x", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("machine 52:54:00:00:00:01: put %q: %w: no answer within 5s", "machines/x", etcdstore.ErrUnavailable)
	})
	s.Handle("GET /y", func(w http.ResponseWriter, r *http.Request) error { return fmt.Errorf("disk on fire") })
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/x", nil))
	var e Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(e.Message, "store is unavailable") || !strings.Contains(e.Message, "etcd unavailable") {
		t.Errorf("got %d %q (Retry-After %q)", rec.Code, e.Message, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/y", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("other errors: %d, want 500", rec.Code)
	}
}
