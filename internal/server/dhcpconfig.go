package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/lease"
)

// fullDHCPConfig turns the validated dhcp: section into what the lease
// manager and the full DHCP server take. exclude lists addresses never to
// lease (ours).
func fullDHCPConfig(d config.DHCP, exclude []netip.Addr, log *slog.Logger) (lease.Config, []dhcp.Network, error) {
	lc := lease.Config{Exclude: exclude, DeclineHold: d.DeclineHold.Std(), Logger: log,
		CacheThreshold: config.DefaultCacheThreshold}
	if d.CacheThreshold != nil {
		lc.CacheThreshold = *d.CacheThreshold
	}
	var nets []dhcp.Network
	for i, s := range d.Subnets {
		key := fmt.Sprintf("dhcp.subnets[%d]", i)
		p, err := netip.ParsePrefix(s.Subnet)
		if err != nil {
			return lc, nil, fmt.Errorf("%s.subnet: %w", key, err) // Validate ran: cannot happen
		}
		ls := lease.Subnet{Prefix: p, LeaseTime: s.LeaseTime.Std()}
		if ls.LeaseTime == 0 {
			ls.LeaseTime = d.LeaseTime.Std()
		}
		if ls.LeaseTime == 0 {
			ls.LeaseTime = config.DefaultLeaseTime
		}
		for _, spec := range s.Pools {
			first, last, err := config.ParsePool(spec)
			if err != nil {
				return lc, nil, fmt.Errorf("%s.pools: %w", key, err)
			}
			ls.Pools = append(ls.Pools, lease.Range{First: first, Last: last})
		}
		for _, r := range s.Reservations {
			hw, err := net.ParseMAC(r.MAC)
			if err != nil {
				return lc, nil, fmt.Errorf("%s.reservations: %w", key, err)
			}
			ls.Reservations = append(ls.Reservations, lease.Reservation{MAC: hw, IP: netip.MustParseAddr(r.IP), Hostname: r.Hostname})
		}
		lc.Subnets = append(lc.Subnets, ls)

		n := dhcp.Network{Prefix: p, MTU: s.MTU, T1: s.RenewTime.Std(), T2: s.RebindTime.Std(),
			DNS: addrs(firstList(s.DNS, d.DNS)), NTP: addrs(firstList(s.NTP, d.NTP)), Domain: s.Domain, Extra: dhcp.Options{}}
		if n.Domain == "" {
			n.Domain = d.Domain
		}
		if s.Router != "" {
			n.Router = netip.MustParseAddr(s.Router)
			lc.Exclude = append(lc.Exclude, n.Router)
		}
		// dhcp.options first, then the subnet's: a subnet's option wins.
		for _, o := range append(append([]config.Option{}, d.Options...), s.Options...) {
			b, err := o.Bytes()
			if err != nil {
				return lc, nil, fmt.Errorf("%s.options: %w", key, err)
			}
			n.Extra[uint8(o.Code)] = b
		}
		nets = append(nets, n)
	}
	return lc, nets, nil
}

func firstList(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

func addrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}
