package config

import (
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	c := Default()
	if err := c.Decode(strings.NewReader("tftp: {max_transfers: 4096, max_transfers_per_client: 16}\n" +
		"http: {max_connections: 1000, max_connections_per_client: 10}\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TFTP != (TFTP{4096, 16}) || c.HTTP != (HTTP{1000, 10}) {
		t.Errorf("decoded tftp %+v, http %+v", c.TFTP, c.HTTP)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"tftp: {max_transfers: -1}", "tftp.max_transfers: -1 is negative"},
		{"tftp: {max_transfers_per_client: -2}", "tftp.max_transfers_per_client: -2 is negative"},
		{"tftp: {max_transfers: 10, max_transfers_per_client: 11}", "tftp.max_transfers_per_client: 11 is more than tftp.max_transfers (10)"},
		{"tftp: {max_transfers: 100000}", "tftp.max_transfers: 100000 is more than"},
		{"http: {max_connections: -1}", "http.max_connections: -1 is negative"},
		{"http: {max_connections: 4, max_connections_per_client: 5}", "http.max_connections_per_client: 5 is more than http.max_connections (4)"},
		{"tftp: {max_transfer: 10}", "unknown key max_transfer"},
	} {
		c := Default()
		err := c.Decode(strings.NewReader(tc.yaml))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// A per-client cap alone is fine: the total is the server's default.
	c = Default()
	c.TFTP.MaxTransfersPerClient = 100
	if err := c.Validate(); err != nil {
		t.Errorf("per-client cap alone: %v", err)
	}
}
