// Package lease hands out IPv4 addresses: subnets with pools and
// reservations, allocation, expiry and reclaim, and DECLINE quarantine, on
// top of store.Store.
//
// Every lease the DHCP server is about to ACK is durable before Ack returns:
// its record is written and fsynced in the store. To keep that affordable,
// writes are group-committed: while one store transaction (one fsync) runs,
// the writes that arrive queue up, and the next transaction commits all of
// them at once; each caller waits only for its own batch (see committer).
//
// The Manager keeps every lease in memory too, so that deciding which address
// a client gets never reads the store. The store is the truth across
// restarts: Open loads it, and the memory only ever runs ahead of it with
// offers and with writes still waiting for their commit, none of which a
// client has been told about.
//
// Store layout: one key per address, "leases/<ip>" ("leases/10.0.0.23"),
// holding a Lease as JSON. The index by client (MAC or client identifier)
// is kept in memory only, rebuilt from the records at Open: stored, its keys
// would be scattered over the whole B+tree by MAC order, and every commit
// would rewrite as many leaf pages as it holds leases, which measured two
// to seven times slower commits (BENCHMARKS.md, DHCP).
package lease

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// KeyPrefix is where lease records live in the store.
const KeyPrefix = "leases/"

// State is where a lease is in its life.
type State string

const (
	// Offered: proposed in a DHCPOFFER, held for a short while; never stored.
	Offered State = "offered"
	// Bound: ACKed to its client until Expires.
	Bound State = "bound"
	// Released: the client gave it back (DHCPRELEASE). It is free, but
	// remembered so that the same client gets it again if it is still free.
	Released State = "released"
	// Declined: quarantined until Expires, because a client said it is in use
	// (DHCPDECLINE, RFC 2131 §4.3.3) or a ping before offering was answered.
	Declined State = "declined"
	// Expired: a Bound lease past its expiry (reported by StateAt, not
	// stored). Free, and remembered like Released.
	Expired State = "expired"
)

// Lease is one address's record.
type Lease struct {
	IP       netip.Addr   `json:"ip"`
	Subnet   netip.Prefix `json:"subnet"`
	MAC      MAC          `json:"mac,omitempty"`
	ClientID string       `json:"client_id,omitempty"` // option 61, hex
	Hostname string       `json:"hostname,omitempty"`  // the reservation's, else what the client sent
	State    State        `json:"state"`
	Start    time.Time    `json:"start"`   // when it was last ACKed (or declined)
	Expires  time.Time    `json:"expires"` // end of the lease, offer hold or quarantine
	Reserved bool         `json:"reserved,omitempty"`
	Relay    netip.Addr   `json:"relay,omitzero"` // giaddr it was ACKed through

	key string // owner(), computed once
	// seq numbers the write that stored this record (Manager.submit); 0
	// for a record read from the store at start. The record is durable
	// once the committer's durable count reaches it.
	seq uint64
}

// StateAt is the lease's state at now: Expired for a Bound lease past its
// expiry, the stored state otherwise.
func (l Lease) StateAt(now time.Time) State {
	if l.State == Bound && !now.Before(l.Expires) {
		return Expired
	}
	return l.State
}

// Active reports whether the address is taken at now: bound and unexpired,
// offered and still held, or declined and still in quarantine.
func (l Lease) Active(now time.Time) bool {
	switch l.State {
	case Bound, Offered, Declined:
		return now.Before(l.Expires)
	}
	return false
}

// MAC is a hardware address that reads and writes itself as text in JSON.
type MAC net.HardwareAddr

func (m MAC) String() string { return net.HardwareAddr(m).String() }

func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m *MAC) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = nil
		return nil
	}
	hw, err := net.ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = MAC(hw)
	return nil
}

// Client is who asks for an address.
type Client struct {
	MAC      net.HardwareAddr // chaddr
	ClientID []byte           // option 61, when sent
	Hostname string           // option 12, when sent
	Relay    netip.Addr       // giaddr, when relayed
}

// key identifies the client: its client identifier when it sent one, else
// its hardware address (RFC 2131 §4.2).
// The hardware address goes in as raw bytes: the key is only compared.
func (c Client) key() string {
	if len(c.ClientID) > 0 {
		return "id:" + hex.EncodeToString(c.ClientID)
	}
	return "hw:" + string(c.MAC)
}

// owner is the identity a stored lease belongs to, in the form of Client.key.
func (l *Lease) owner() string {
	if l.key == "" {
		if l.ClientID != "" {
			l.key = "id:" + l.ClientID
		} else {
			l.key = "hw:" + string(l.MAC)
		}
	}
	return l.key
}

// Subnet is one IPv4 network we lease addresses in.
type Subnet struct {
	Prefix       netip.Prefix
	Pools        []Range // addresses handed to any client
	Reservations []Reservation
	LeaseTime    time.Duration
}

// Range is an inclusive range of IPv4 addresses.
type Range struct{ First, Last netip.Addr }

// Contains reports whether ip is in r.
func (r Range) Contains(ip netip.Addr) bool {
	return ip.Is4() && r.First.Compare(ip) <= 0 && ip.Compare(r.Last) <= 0
}

// Size is the number of addresses in r.
func (r Range) Size() int { return int(u32(r.Last)-u32(r.First)) + 1 }

func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// Reservation ties a MAC to one address, with an optional host name.
type Reservation struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string
}

// Errors from Ack, Release and Decline. The DHCP server NAKs ErrNotAvailable
// and ErrWrongSubnet and stays silent on ErrNoSubnet.
var (
	// ErrNotAvailable: the address is someone else's, reserved for someone
	// else, quarantined, or outside the subnet's pools.
	ErrNotAvailable = errors.New("address not available to this client")
	// ErrWrongSubnet: the address is not in the client's subnet.
	ErrWrongSubnet = errors.New("address is not on the client's network")
	// ErrNoSubnet: no configured subnet serves the client's network.
	ErrNoSubnet = errors.New("no subnet configured for this network")
	// ErrPoolExhausted: no free address left in the subnet's pools.
	ErrPoolExhausted = errors.New("no free address in the pools")
	// ErrNotOwner: a RELEASE or DECLINE for an address the client does not hold.
	ErrNotOwner = errors.New("the client does not hold this address")
)

func leaseKey(ip netip.Addr) string { return KeyPrefix + ip.String() }

func encode(l *Lease) ([]byte, error) { return appendJSON(make([]byte, 0, 256), l), nil }

func decode(b []byte) (Lease, error) {
	var l Lease
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("lease record: %w", err)
	}
	if !l.IP.Is4() {
		return l, fmt.Errorf("lease record: ip %v is not IPv4", l.IP)
	}
	return l, nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
