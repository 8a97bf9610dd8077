package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	m := New("test", func() int { return 0 })
	m.Limits(func() LimitFigures {
		return LimitFigures{TFTPRefused: 3, TFTPShed: 1234, TFTPActive: 8, HTTPRefused: 5, HTTPOpen: 2}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"rackboot_tftp_requests_refused_total 3\n", "rackboot_tftp_transfers_shed_total 1234\n",
		"rackboot_tftp_transfers_active 8\n", "rackboot_http_connections_refused_total 5\n",
		"rackboot_http_connections_open 2\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
