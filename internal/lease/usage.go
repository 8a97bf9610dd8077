package lease

import "net/netip"

// States lists every state a lease can be in, in the order of its life.
var States = []State{Offered, Bound, Released, Declined, Expired}

// SubnetUsage is how much of one configured subnet is in use.
type SubnetUsage struct {
	Subnet netip.Prefix `json:"subnet"`
	// PoolAddresses is how many addresses its pools can hand out: every
	// pool address but the network and broadcast addresses, excluded
	// addresses (the server's own) and reserved ones.
	PoolAddresses int `json:"pool_addresses"`
	// Reservations is how many reservations it has, inside its pools or not.
	Reservations int `json:"reservations"`
	// Leases counts its addresses by state now (Lease.StateAt), every state
	// present, zeros included. An address counts once: while an offer for
	// it is held it is offered, whatever its old record says.
	Leases map[State]int `json:"leases"`
	// Exhausted counts the offers refused since start because nothing in
	// the pools was free (counted, not read: it is a history).
	Exhausted uint64 `json:"exhausted"`
	// OffersTaken counts held offers given to another client because the
	// pools were full (the oldest first), and OffersDropped those dropped
	// because more than Config.MaxOffers were held: both are what a flood
	// of DISCOVERs costs the clients that do not REQUEST at once.
	OffersTaken   uint64 `json:"offers_taken"`
	OffersDropped uint64 `json:"offers_dropped"`
}

// Usage returns the usage of every configured subnet, in configuration
// order, as of now.
func (m *Manager) Usage() []SubnetUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]SubnetUsage, len(m.subnets))
	index := make(map[netip.Prefix]int, len(m.subnets))
	for i, s := range m.subnets {
		out[i] = SubnetUsage{Subnet: s.Prefix, PoolAddresses: m.poolAddresses(s),
			Reservations: len(s.Reservations), Leases: make(map[State]int, len(States)),
			Exhausted: s.exhausted, OffersTaken: s.offersTaken, OffersDropped: s.offersDropped}
		for _, st := range States {
			out[i].Leases[st] = 0
		}
		index[s.Prefix] = i
	}
	for i, s := range m.subnets {
		for o := s.offers.oldest; o != nil; o = o.newer {
			if o.Active(now) {
				out[i].Leases[Offered]++
			}
		}
	}
	for ip, r := range m.records {
		s := m.subnetOf(ip)
		if s == nil {
			continue // a subnet no longer configured
		}
		if o := m.offers[ip]; o != nil && o.Active(now) {
			continue // counted as offered
		}
		out[index[s.Prefix]].Leases[r.StateAt(now)]++
	}
	return out
}

// poolAddresses counts the addresses s's pools can hand out; m.mu is held.
// It looks only at the few addresses that cannot be handed out, never
// walks the pools.
func (m *Manager) poolAddresses(s *subnet) int {
	n := 0
	for _, p := range s.Pools {
		n += p.Size()
	}
	unusable := map[netip.Addr]bool{}
	if s.Prefix.Bits() < 31 {
		unusable[s.Prefix.Addr()] = true
		unusable[lastAddr(s.Prefix)] = true
	}
	for ip := range m.excluded {
		unusable[ip] = true
	}
	for ip := range s.resByIP {
		unusable[ip] = true
	}
	for ip := range unusable {
		if s.inPool(ip) {
			n--
		}
	}
	return n
}
