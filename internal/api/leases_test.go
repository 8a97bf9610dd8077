package api

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"rackboot/internal/lease"
)

func TestLeasesAPI(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	mk := func(ip string, mac byte, st lease.State, exp time.Duration) lease.Lease {
		return lease.Lease{IP: netip.MustParseAddr(ip), Subnet: netip.MustParsePrefix("10.0.0.0/16"),
			MAC: lease.MAC(net.HardwareAddr{0x52, 0x54, 0, 0, 0, mac}), State: st, Start: now.Add(-time.Hour), Expires: now.Add(exp)}
	}
	all := []lease.Lease{
		mk("10.0.0.10", 1, lease.Bound, time.Hour),
		mk("10.0.0.11", 2, lease.Bound, -time.Minute), // expired
		mk("10.0.1.12", 3, lease.Released, 0),
		mk("10.0.1.13", 0, lease.Declined, time.Hour),
	}
	fail := false
	s := &Server{OpenReads: true}
	(&Leases{Now: func() time.Time { return now }, List: func(context.Context) ([]lease.Lease, error) {
		if fail {
			return nil, errors.New("store closed")
		}
		return all, nil
	}}).Register(s)
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := &Client{Base: srv.URL}
	ctx := context.Background()

	for _, tc := range []struct {
		query url.Values
		want  []string
	}{
		{nil, []string{"10.0.0.10", "10.0.0.11", "10.0.1.12", "10.0.1.13"}},
		{url.Values{"state": {"bound"}}, []string{"10.0.0.10"}},
		{url.Values{"state": {"expired"}}, []string{"10.0.0.11"}},
		{url.Values{"mac": {"52:54:00:00:00:03"}}, []string{"10.0.1.12"}},
		{url.Values{"subnet": {"10.0.1.0/24"}}, []string{"10.0.1.12", "10.0.1.13"}},
	} {
		got, err := c.Leases(ctx, tc.query)
		if err != nil {
			t.Fatalf("%v: %v", tc.query, err)
		}
		var ips []string
		for _, l := range got {
			ips = append(ips, l.IP.String())
		}
		if len(ips) != len(tc.want) || len(ips) > 0 && ips[0] != tc.want[0] || len(ips) > 1 && ips[len(ips)-1] != tc.want[len(tc.want)-1] {
			t.Errorf("%v: %v, want %v", tc.query, ips, tc.want)
		}
	}
	for _, q := range []url.Values{{"state": {"lost"}}, {"mac": {"x"}}, {"subnet": {"10/8/8"}}} {
		var e *Error
		if _, err := c.Leases(ctx, q); !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("%v: %v, want a 400", q, err)
		}
	}
	var one lease.Lease
	if err := c.Do(ctx, http.MethodGet, "/leases/10.0.0.11", nil, &one); err != nil || one.State != lease.Expired || one.MAC.String() != "52:54:00:00:00:02" {
		t.Errorf("one lease: %+v %v", one, err)
	}
	var e *Error
	if err := c.Do(ctx, http.MethodGet, "/leases/10.9.9.9", nil, &one); !errors.As(err, &e) || e.Status != http.StatusNotFound {
		t.Errorf("missing lease: %v", err)
	}
	fail = true
	if _, err := c.Leases(ctx, nil); !errors.As(err, &e) || e.Status != http.StatusInternalServerError {
		t.Errorf("store failure: %v", err)
	}
}

func TestSubnetsAPI(t *testing.T) {
	usage := []lease.SubnetUsage{
		{Subnet: netip.MustParsePrefix("10.0.0.0/24"), PoolAddresses: 100, Reservations: 2,
			Leases: map[lease.State]int{lease.Bound: 12, lease.Offered: 3, lease.Declined: 1, lease.Released: 0, lease.Expired: 0}},
		{Subnet: netip.MustParsePrefix("10.0.7.0/24"), PoolAddresses: 126,
			Leases: map[lease.State]int{lease.Bound: 0, lease.Offered: 0, lease.Declined: 0, lease.Released: 4, lease.Expired: 5}},
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		usage     func() []lease.SubnetUsage
		openReads bool
		token     string
		want      []lease.SubnetUsage
		status    int
	}{
		{"full mode", func() []lease.SubnetUsage { return usage }, true, "", usage, 200},
		{"other modes", nil, true, "", nil, 200},
		{"no manager yet", func() []lease.SubnetUsage { return nil }, true, "", nil, 200},
		{"closed reads, no token", func() []lease.SubnetUsage { return usage }, false, "", nil, 401},
		{"closed reads, token", func() []lease.SubnetUsage { return usage }, false, "rbt_t", usage, 200},
	} {
		s := &Server{OpenReads: tc.openReads, Token: func() string { return "rbt_t" }}
		(&Leases{Usage: tc.usage, List: func(context.Context) ([]lease.Lease, error) { return nil, nil }}).Register(s)
		srv := httptest.NewServer(s)
		c := &Client{Base: srv.URL, Token: tc.token}
		got, err := c.Subnets(ctx)
		var e *Error
		switch {
		case tc.status != 200:
			if !errors.As(err, &e) || e.Status != tc.status {
				t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case len(got) != len(tc.want):
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		default:
			for i := range got {
				w := tc.want[i]
				if got[i].Subnet != w.Subnet || got[i].PoolAddresses != w.PoolAddresses || got[i].Reservations != w.Reservations || !maps.Equal(got[i].Leases, w.Leases) {
					t.Errorf("%s: subnet %d is %+v, want %+v", tc.name, i, got[i], w)
				}
			}
		}
		// Without a full DHCP server the answer is an empty list, not null.
		if tc.status == 200 && tc.want == nil {
			resp, err := c.Send(ctx, http.MethodGet, "/subnets", nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) != "[]" {
				t.Errorf("%s: body %q, want []", tc.name, b)
			}
		}
		srv.Close()
	}
}
