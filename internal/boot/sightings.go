package boot

import (
	"container/list"
	"net"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"rackboot/internal/pxe"
)

// Defaults for a zero Sightings.
const (
	DefaultSightingTTL   = 10 * time.Minute
	DefaultSightingLimit = 65536
)

// Sighting is what the DHCP listener saw of one boot client.
type Sighting struct {
	MAC  net.HardwareAddr
	Arch pxe.Arch
	IPXE bool // the client ran iPXE when it sent this DHCP message
	// Features are the iPXE build's feature flags (option 175), for the
	// menu URL of a chain script.
	Features pxe.Features
	Seen     time.Time // set by Record from the table's clock
}

// Sightings remembers, per client IP address, the latest boot client seen
// using it. It exists for one job: when rackboot is only the TFTP server of a
// DHCP server it cannot change, that server hands undionly.kpxe/snponly.efi to
// every client, iPXE included, and iPXE would load itself forever. The DHCP
// listener sees iPXE's DHCPREQUEST (user class "iPXE", option 50 = the address
// it is about to use); the TFTP server then sees a read request for an iPXE
// binary from that address and can send a chain script instead.
//
// Entries expire after TTL and the table holds at most Limit of them,
// dropping the least recently recorded first. The zero value is ready to use;
// set TTL, Limit and Now before first use to change the defaults. Safe for
// concurrent use.
type Sightings struct {
	TTL   time.Duration    // 0 means DefaultSightingTTL
	Limit int              // 0 means DefaultSightingLimit
	Now   func() time.Time // nil means time.Now

	mu    sync.Mutex
	order *list.List // of *sightingEntry, least recently recorded first
	byIP  map[netip.Addr]*list.Element
	byMAC map[string]*list.Element
}

type sightingEntry struct {
	ip netip.Addr
	s  Sighting
}

func (t *Sightings) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Sightings) ttl() time.Duration {
	if t.TTL > 0 {
		return t.TTL
	}
	return DefaultSightingTTL
}

func (t *Sightings) limit() int {
	if t.Limit > 0 {
		return t.Limit
	}
	return DefaultSightingLimit
}

func (t *Sightings) init() {
	if t.order == nil {
		t.order = list.New()
		t.byIP = make(map[netip.Addr]*list.Element)
		t.byMAC = make(map[string]*list.Element)
	}
}

// Record notes that s.MAC is about to use ip. A newer record for the same
// address replaces the older one: the PXE ROM and the iPXE it loads share one
// lease, and whichever spoke last is what the next TFTP request comes from.
// Invalid addresses are ignored. s.Seen is set to the table's clock.
func (t *Sightings) Record(ip netip.Addr, s Sighting) {
	if t == nil || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	s.Seen = t.now()
	s.MAC = append(net.HardwareAddr(nil), s.MAC...)

	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	if el, ok := t.byIP[ip]; ok {
		t.remove(el)
	}
	el := t.order.PushBack(&sightingEntry{ip: ip, s: s})
	t.byIP[ip] = el
	if len(s.MAC) > 0 {
		t.byMAC[string(s.MAC)] = el
	}
	t.prune(s.Seen)
}

// Lookup returns the live sighting for ip.
func (t *Sightings) Lookup(ip netip.Addr) (Sighting, bool) {
	if t == nil {
		return Sighting{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	el, ok := t.byIP[ip.Unmap()]
	if !ok {
		return Sighting{}, false
	}
	return t.live(el)
}

// ByMAC returns the address and sighting most recently recorded for mac.
func (t *Sightings) ByMAC(mac net.HardwareAddr) (netip.Addr, Sighting, bool) {
	if t == nil {
		return netip.Addr{}, Sighting{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	el, ok := t.byMAC[string(mac)]
	if !ok {
		return netip.Addr{}, Sighting{}, false
	}
	s, ok := t.live(el)
	if !ok {
		return netip.Addr{}, Sighting{}, false
	}
	return el.Value.(*sightingEntry).ip, s, true
}

// Len reports how many entries the table holds, expired ones included until
// the next Record prunes them.
func (t *Sightings) Len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	return t.order.Len()
}

// live returns el's sighting unless it has expired, which removes it.
// Caller holds t.mu.
func (t *Sightings) live(el *list.Element) (Sighting, bool) {
	e := el.Value.(*sightingEntry)
	if t.now().Sub(e.s.Seen) >= t.ttl() {
		t.remove(el)
		return Sighting{}, false
	}
	s := e.s
	s.MAC = append(net.HardwareAddr(nil), e.s.MAC...)
	return s, true
}

// prune drops expired entries from the old end and the oldest entries beyond
// the limit. Caller holds t.mu.
func (t *Sightings) prune(now time.Time) {
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		e := el.Value.(*sightingEntry)
		if t.order.Len() <= t.limit() && now.Sub(e.s.Seen) < t.ttl() {
			return
		}
		t.remove(el)
	}
}

// remove drops el from the list and both indexes. Caller holds t.mu.
func (t *Sightings) remove(el *list.Element) {
	e := el.Value.(*sightingEntry)
	t.order.Remove(el)
	if t.byIP[e.ip] == el {
		delete(t.byIP, e.ip)
	}
	if t.byMAC[string(e.s.MAC)] == el {
		delete(t.byMAC, string(e.s.MAC))
	}
}

// nbpArches are the arches whose NBP names LoopBreaker recognises.
var nbpArches = []pxe.Arch{pxe.ArchBIOS, pxe.ArchEFIi386, pxe.ArchEFIx8664, pxe.ArchEFIARM32, pxe.ArchEFIARM64}

// IsNBPName reports whether name (a TFTP request path) names one of the iPXE
// builds in pxe.BootFiles for any arch, comparing base names without case:
// "/undionly.kpxe", "boot/UNDIONLY.KPXE" and "arm64/snponly.efi" all count.
func IsNBPName(name string) bool {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	for _, a := range nbpArches {
		for _, f := range pxe.BootFiles(a) {
			if strings.EqualFold(base, path.Base(f)) {
				return true
			}
		}
	}
	return false
}

// LoopBreaker returns a hook with the signature of the TFTP server's Override:
// for a read request of an iPXE binary (IsNBPName) from an address whose live
// sighting says the client runs iPXE, it returns a ChainScript to the
// client's menu instead of the binary, and true. For everything else it
// returns false and the TFTP server serves the file as usual.
//
// iPXE runs a script fetched as its "boot file" just as it would a binary, so
// a foreign DHCP server that answers iPXE with undionly.kpxe still gets the
// client to our menu. A nil sightings table disables the hook.
func LoopBreaker(sightings *Sightings, cfg Config) func(client netip.AddrPort, name string) ([]byte, bool) {
	return func(client netip.AddrPort, name string) ([]byte, bool) {
		if sightings == nil || !IsNBPName(name) {
			return nil, false
		}
		s, ok := sightings.Lookup(client.Addr())
		if !ok || !s.IPXE {
			return nil, false
		}
		return ChainScript(cfg.MenuURL(s.MAC, s.Arch, s.Features)), true
	}
}
