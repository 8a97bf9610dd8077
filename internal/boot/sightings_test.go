package boot

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/pxe"
)

// fakeClock is a settable clock for Sightings.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mac(i int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

func ip(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestSightingsRecordLookup(t *testing.T) {
	clk := newFakeClock()
	s := &Sightings{TTL: time.Minute, Now: clk.Now}
	a := ip(5)

	if _, ok := s.Lookup(a); ok {
		t.Fatal("empty table found a sighting")
	}
	s.Record(a, Sighting{MAC: mac(1), Arch: pxe.ArchBIOS, IPXE: false})
	got, ok := s.Lookup(a)
	if !ok || got.IPXE || got.Arch != pxe.ArchBIOS || got.MAC.String() != mac(1).String() {
		t.Fatalf("Lookup = %+v, %v", got, ok)
	}
	if !got.Seen.Equal(clk.Now()) {
		t.Errorf("Seen = %v, want the clock's %v", got.Seen, clk.Now())
	}

	// iPXE, loaded by that ROM, DHCPs for the same lease: it replaces the ROM.
	clk.Advance(10 * time.Second)
	s.Record(a, Sighting{MAC: mac(1), Arch: pxe.ArchBIOS, IPXE: true})
	if got, _ := s.Lookup(a); !got.IPXE {
		t.Errorf("newer record did not replace the older: %+v", got)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}

	// IPv4-mapped IPv6 addresses (from a dual-stack socket) are the same key.
	if _, ok := s.Lookup(netip.AddrFrom16(a.As16())); !ok {
		t.Error("mapped address not found")
	}

	// Expiry is TTL after the last record.
	clk.Advance(59 * time.Second)
	if _, ok := s.Lookup(a); !ok {
		t.Error("expired too early")
	}
	clk.Advance(time.Second)
	if _, ok := s.Lookup(a); ok {
		t.Error("not expired after TTL")
	}
	if s.Len() != 0 {
		t.Errorf("expired entry kept: Len = %d", s.Len())
	}
}

func TestSightingsZeroValueAndNil(t *testing.T) {
	var s Sightings
	s.Record(ip(1), Sighting{MAC: mac(1), IPXE: true})
	if got, ok := s.Lookup(ip(1)); !ok || !got.IPXE {
		t.Errorf("zero value table: %+v %v", got, ok)
	}
	s.Record(netip.Addr{}, Sighting{MAC: mac(2)})
	if s.Len() != 1 {
		t.Errorf("invalid address was recorded: Len = %d", s.Len())
	}
	var nilTable *Sightings
	nilTable.Record(ip(1), Sighting{})
	if _, ok := nilTable.Lookup(ip(1)); ok {
		t.Error("nil table found something")
	}
	if _, _, ok := nilTable.ByMAC(mac(1)); ok {
		t.Error("nil table found something by MAC")
	}
}

func TestSightingsCopiesMAC(t *testing.T) {
	var s Sightings
	m := mac(7)
	s.Record(ip(7), Sighting{MAC: m})
	m[5] = 0xff
	got, _ := s.Lookup(ip(7))
	if got.MAC.String() != mac(7).String() {
		t.Errorf("table shares the caller's MAC slice: %v", got.MAC)
	}
	got.MAC[0] = 0xff
	again, _ := s.Lookup(ip(7))
	if again.MAC.String() != mac(7).String() {
		t.Errorf("Lookup hands out the table's MAC slice: %v", again.MAC)
	}
}

func TestSightingsLimitEvictsOldest(t *testing.T) {
	clk := newFakeClock()
	s := &Sightings{Limit: 3, Now: clk.Now}
	for i := 1; i <= 3; i++ {
		s.Record(ip(i), Sighting{MAC: mac(i)})
		clk.Advance(time.Second)
	}
	s.Record(ip(1), Sighting{MAC: mac(1)}) // refresh: 2 is now the oldest
	clk.Advance(time.Second)
	s.Record(ip(4), Sighting{MAC: mac(4)})
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	if _, ok := s.Lookup(ip(2)); ok {
		t.Error("oldest entry (2) not evicted")
	}
	for _, i := range []int{1, 3, 4} {
		if _, ok := s.Lookup(ip(i)); !ok {
			t.Errorf("entry %d evicted", i)
		}
	}
	if _, _, ok := s.ByMAC(mac(2)); ok {
		t.Error("evicted entry still indexed by MAC")
	}
}

func TestSightingsDefaultLimit(t *testing.T) {
	var s Sightings
	for i := 0; i < DefaultSightingLimit+10; i++ {
		s.Record(ip(i), Sighting{MAC: mac(i)})
	}
	if s.Len() != DefaultSightingLimit {
		t.Errorf("Len = %d, want %d", s.Len(), DefaultSightingLimit)
	}
	if _, ok := s.Lookup(ip(9)); ok {
		t.Error("entry 9 should have been evicted")
	}
}

func TestSightingsByMAC(t *testing.T) {
	clk := newFakeClock()
	s := &Sightings{TTL: time.Minute, Now: clk.Now}
	s.Record(ip(1), Sighting{MAC: mac(1), Arch: pxe.ArchBIOS})
	s.Record(ip(2), Sighting{MAC: mac(1), Arch: pxe.ArchBIOS, IPXE: true}) // moved address
	addr, got, ok := s.ByMAC(mac(1))
	if !ok || addr != ip(2) || !got.IPXE {
		t.Errorf("ByMAC = %v %+v %v, want the latest record", addr, got, ok)
	}
	// Another client takes over address 2: mac(1) no longer maps to it.
	s.Record(ip(2), Sighting{MAC: mac(9)})
	if _, _, ok := s.ByMAC(mac(1)); ok {
		t.Error("ByMAC found a record that was replaced by another client")
	}
	clk.Advance(time.Minute)
	if _, _, ok := s.ByMAC(mac(9)); ok {
		t.Error("ByMAC found an expired record")
	}
}

func TestSightingsConcurrent(t *testing.T) {
	s := &Sightings{Limit: 100}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				s.Record(ip(i%150), Sighting{MAC: mac(g), IPXE: i%2 == 0})
				s.Lookup(ip(i % 150))
				s.ByMAC(mac(g))
			}
		}(g)
	}
	wg.Wait()
	if s.Len() > 100 {
		t.Errorf("Len = %d over the limit", s.Len())
	}
}

func TestIsNBPName(t *testing.T) {
	tests := map[string]bool{
		"undionly.kpxe":          true,
		"/undionly.kpxe":         true,
		"boot/UNDIONLY.KPXE":     true,
		`pxe\undionly.kkpxe`:     true,
		"ipxe.pxe":               true,
		"snponly.efi":            true,
		"ipxe.efi":               true,
		"arm64/snponly.efi":      true,
		"ipxe-arm64.efi":         true,
		"snp-arm64.efi":          true,
		"pxelinux.0":             false,
		"boot.ipxe":              false,
		"undionly.kpxe.sig":      false,
		"memtest86+x64.efi":      false,
		"":                       false,
		"smartos/platform/x.tgz": false,
	}
	for name, want := range tests {
		if got := IsNBPName(name); got != want {
			t.Errorf("IsNBPName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestLoopBreaker(t *testing.T) {
	clk := newFakeClock()
	s := &Sightings{TTL: 10 * time.Minute, Now: clk.Now}
	cfg := testConfig("undionly.kpxe", "snponly.efi")
	hook := LoopBreaker(s, cfg)

	ipxeIP, romIP, strangerIP := ip(10), ip(11), ip(12)
	s.Record(ipxeIP, Sighting{MAC: mac(10), Arch: pxe.ArchEFIx8664, IPXE: true})
	s.Record(romIP, Sighting{MAC: mac(11), Arch: pxe.ArchBIOS, IPXE: false})

	tests := []struct {
		name   string
		client netip.Addr
		file   string
		want   bool
	}{
		{"iPXE asks for snponly.efi", ipxeIP, "snponly.efi", true},
		{"iPXE asks for undionly.kpxe", ipxeIP, "/undionly.kpxe", true},
		{"iPXE asks for another file", ipxeIP, "memtest86+x64.efi", false},
		{"PXE ROM gets the real binary", romIP, "undionly.kpxe", false},
		{"never-seen client gets the real binary", strangerIP, "undionly.kpxe", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ok := hook(netip.AddrPortFrom(tt.client, 2070), tt.file)
			if ok != tt.want {
				t.Fatalf("ok = %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			want := "chain --autofree --replace " + cfg.MenuURL(mac(10), pxe.ArchEFIx8664, pxe.Features{})
			if !strings.Contains(string(body), want) {
				t.Errorf("body lacks %q:\n%s", want, body)
			}
		})
	}

	clk.Advance(10 * time.Minute)
	if _, ok := hook(netip.AddrPortFrom(ipxeIP, 2070), "snponly.efi"); ok {
		t.Error("expired sighting still overrides")
	}
	if _, ok := LoopBreaker(nil, cfg)(netip.AddrPortFrom(ipxeIP, 1), "snponly.efi"); ok {
		t.Error("nil sightings overrides")
	}
}

func ExampleLoopBreaker() {
	s := &Sightings{}
	cfg := Config{HTTPBase: "http://10.0.0.1:8080"}
	s.Record(netip.MustParseAddr("10.0.0.50"), Sighting{
		MAC: net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, Arch: pxe.ArchBIOS, IPXE: true,
	})
	override := LoopBreaker(s, cfg)
	body, ok := override(netip.MustParseAddrPort("10.0.0.50:2070"), "undionly.kpxe")
	fmt.Println(ok)
	fmt.Print(strings.SplitN(string(body), "\n", 4)[2])
	// Output:
	// true
	// chain --autofree --replace http://10.0.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios || goto failed
}
