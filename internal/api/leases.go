package api

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"rackboot/internal/lease"
)

// Leases serves the DHCP leases under /leases:
//
//	GET /leases            every lease, by address; filters: ?state=bound|released|declined|expired,
//	                       ?mac=52:54:00:12:34:56, ?subnet=10.0.0.0/24
//	GET /leases/{ip}       one lease
//	GET /subnets           each configured subnet's usage: pool addresses, reservations,
//	                       addresses by state; an empty list when no full DHCP server runs
//
// A lease's state is given as of the request: a bound lease past its end
// reads "expired".
type Leases struct {
	// List returns the lease records: the running full DHCP server's, or
	// the store's in the other DHCP modes.
	List func(ctx context.Context) ([]lease.Lease, error)
	// Usage returns the running full DHCP server's subnets (lease.Manager's
	// Usage); nil, or nil returned, in the other DHCP modes.
	Usage func() []lease.SubnetUsage
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Register mounts the routes on s.
func (l *Leases) Register(s *Server) {
	s.Handle("GET /leases", l.list)
	s.Handle("GET /leases/{ip}", l.get)
	s.Handle("GET /subnets", l.subnets)
}

func (l *Leases) subnets(w http.ResponseWriter, r *http.Request) error {
	out := []lease.SubnetUsage{} // [], not null, without a server
	if l.Usage != nil {
		if u := l.Usage(); u != nil {
			out = u
		}
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (l *Leases) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Leases) list(w http.ResponseWriter, r *http.Request) error {
	all, err := l.List(r.Context())
	if err != nil {
		return err
	}
	out, err := FilterLeases(all, r.URL.Query(), l.now())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, out)
}

// FilterLeases applies the filters of GET /leases (state, mac, subnet) to
// all, with each lease's state as of now. The CLI uses it on the store when
// no server runs, so that both ways give the same answer.
func FilterLeases(all []lease.Lease, query url.Values, now time.Time) ([]lease.Lease, error) {
	f, err := parseLeaseFilter(query)
	if err != nil {
		return nil, err
	}
	out := make([]lease.Lease, 0, len(all))
	for _, x := range all {
		x.State = x.StateAt(now)
		if f.match(x) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (l *Leases) get(w http.ResponseWriter, r *http.Request) error {
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil || !ip.Is4() {
		return Errorf(http.StatusBadRequest, "%q is not an IPv4 address", r.PathValue("ip"))
	}
	all, err := l.List(r.Context())
	if err != nil {
		return err
	}
	for _, x := range all {
		if x.IP == ip {
			x.State = x.StateAt(l.now())
			return WriteJSON(w, http.StatusOK, x)
		}
	}
	return Errorf(http.StatusNotFound, "no lease for %v", ip)
}

// leaseFilter is the query of GET /leases.
type leaseFilter struct {
	state  lease.State
	mac    string
	subnet netip.Prefix
}

func parseLeaseFilter(q url.Values) (leaseFilter, error) {
	var f leaseFilter
	switch s := lease.State(q.Get("state")); s {
	case "", lease.Bound, lease.Released, lease.Declined, lease.Expired:
		f.state = s
	default:
		return f, Errorf(http.StatusBadRequest, "state %q: want bound, released, declined or expired", s)
	}
	if m := q.Get("mac"); m != "" {
		var hw lease.MAC
		if err := hw.UnmarshalText([]byte(m)); err != nil {
			return f, Errorf(http.StatusBadRequest, "mac %q is not a MAC address", m)
		}
		f.mac = hw.String()
	}
	if s := q.Get("subnet"); s != "" {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return f, Errorf(http.StatusBadRequest, "subnet %q is not a network like 10.0.0.0/24", s)
		}
		f.subnet = p.Masked()
	}
	return f, nil
}

func (f leaseFilter) match(x lease.Lease) bool {
	return (f.state == "" || x.State == f.state) &&
		(f.mac == "" || strings.EqualFold(x.MAC.String(), f.mac)) &&
		(!f.subnet.IsValid() || f.subnet.Contains(x.IP))
}

// Leases lists a server's leases; query may hold the filters of GET /leases.
func (c *Client) Leases(ctx context.Context, query url.Values) ([]lease.Lease, error) {
	path := "/leases"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	var out []lease.Lease
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Subnets returns a server's subnets with their usage (empty unless it runs
// in dhcp.mode full).
func (c *Client) Subnets(ctx context.Context) ([]lease.SubnetUsage, error) {
	var out []lease.SubnetUsage
	err := c.Do(ctx, http.MethodGet, "/subnets", nil, &out)
	return out, err
}
