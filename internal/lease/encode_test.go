package lease

import (
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes what
// encoding/json writes, for every field filled or empty and for awkward
// host names.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	start := time.Date(2026, 11, 1, 12, 0, 0, 123456789, time.UTC)
	full := Lease{
		IP: netip.MustParseAddr("10.1.2.3"), Subnet: netip.MustParsePrefix("10.1.0.0/16"),
		MAC: MAC(net.HardwareAddr{0x52, 0x54, 0, 0xab, 0xcd, 0xef}), ClientID: "01525400abcdef",
		Hostname: "cn1", State: Bound, Start: start, Expires: start.Add(time.Hour),
		Reserved: true, Relay: netip.MustParseAddr("10.1.0.1"),
	}
	cases := []Lease{full, {IP: full.IP, Subnet: full.Subnet, State: Declined, Start: start, Expires: start}}
	for _, h := range []string{`quo"te\back`, "tab\tnl\n\x01\x1f", "ünïcødé", "bad\xff\xfeutf8", "sep\u2028\u2029", "<&>"} {
		l := full
		l.Hostname = h
		cases = append(cases, l)
	}
	local := full
	local.Start = start.In(time.FixedZone("X", 3600))
	cases = append(cases, local)
	for _, l := range cases {
		want, err := json.Marshal(&l)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := encode(&l)
		// encoding/json escapes <, > and & for HTML; both are valid JSON
		// for the same value, so compare decoded.
		var a, b Lease
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		json.Unmarshal(want, &b)
		if a.IP != b.IP || a.Subnet != b.Subnet || a.MAC.String() != b.MAC.String() || a.ClientID != b.ClientID ||
			a.Hostname != b.Hostname || a.State != b.State || !a.Start.Equal(b.Start) || !a.Expires.Equal(b.Expires) ||
			a.Reserved != b.Reserved || a.Relay != b.Relay {
			t.Errorf("decoded differently:\n got %s\nwant %s", got, want)
		}
		if l.Hostname != "<&>" && string(got) != string(want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	l := Lease{IP: netip.MustParseAddr("10.1.2.3"), Subnet: netip.MustParsePrefix("10.1.0.0/16"),
		MAC: MAC(net.HardwareAddr{0x52, 0x54, 0, 0xab, 0xcd, 0xef}), Hostname: "cn1", State: Bound,
		Start: time.Now(), Expires: time.Now().Add(time.Hour)}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			encode(&l)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(&l)
		}
	})
}
