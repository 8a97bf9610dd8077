package textview

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/bootargs"
	"rackboot/internal/cluster"
	"rackboot/internal/events"
	"rackboot/internal/lease"
	"rackboot/internal/machines"
	"rackboot/internal/smartos"
)

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		30 * time.Second: "in 30s", -3*time.Minute - 5*time.Second: "3m05s ago", 59*time.Minute + 50*time.Second: "in 59m50s",
		12 * time.Hour: "in 12h00m", 72 * time.Hour: "in 3d00h",
	} {
		if got := relTime(now.Add(d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func TestLeases(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := netip.MustParsePrefix("10.0.0.0/24")
	var b bytes.Buffer
	err := Leases(&b, []lease.Lease{
		{IP: netip.MustParseAddr("10.0.0.100"), Subnet: p, MAC: lease.MAC(net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}), Hostname: "h",
			State: "bound", Expires: now.Add(time.Hour), Reserved: true, Relay: netip.MustParseAddr("10.0.1.1")},
		{IP: netip.MustParseAddr("10.0.0.101"), Subnet: p, State: "declined", Expires: now.Add(-72 * time.Hour)},
	}, now)
	want := `IP          MAC                STATE             ENDS       HOSTNAME  SUBNET       RELAY
10.0.0.100  52:54:00:00:00:01  bound (reserved)  in 1h00m   h         10.0.0.0/24  10.0.1.1
10.0.0.101  -                  declined          3d00h ago  -         10.0.0.0/24  -
`
	if err != nil || b.String() != want {
		t.Errorf("%v:\n%s\nwant:\n%s", err, b.String(), want)
	}
}

func TestServers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	err := Servers(&b, cluster.Snapshot{Stale: true, Synced: now, Error: "etcd down", Members: []cluster.Status{
		{Member: cluster.Member{Name: "a", Advertise: "10.0.0.1", HTTPURL: "http://10.0.0.1", Version: "v1", Started: now.Add(-time.Hour)},
			Self: true, Alive: true, Health: &cluster.Health{OK: true, Checked: now.Add(-3 * time.Second)}},
		{Member: cluster.Member{Name: "bb"}, LastSeen: now.Add(-time.Minute), Health: &cluster.Health{Error: " nope \n"}},
		{Member: cluster.Member{Name: "c"}, Alive: true},
	}}, now)
	want := "stale: etcd has not answered since " + now.Local().Format(time.DateTime) + ` (etcd down); the list below is the last one read
NAME  ADVERTISE  HTTP             VERSION  UP      ALIVE                    HEALTH
a *   10.0.0.1   http://10.0.0.1  v1       1h0m0s  yes                      ok (3s ago)
bb    -          -                -        -       no (last seen 1m0s ago)  failing: nope
c     -          -                -        -       yes                      -
`
	if err != nil || b.String() != want {
		t.Errorf("%v:\n%s\nwant:\n%s", err, b.String(), want)
	}
}

func TestPlatforms(t *testing.T) {
	var b bytes.Buffer
	if err := Platforms(&b, nil); err != nil || !strings.HasPrefix(b.String(), "no platforms yet") {
		t.Errorf("empty: %v %q", err, b.String())
	}
	imported := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	list := []api.Platform{
		{CatalogEntry: smartos.CatalogEntry{Build: "20250101T000000Z", SHA256: "abcdef0123456789abcdef", Pinned: true, ImportedAt: imported},
			Default: true, Boots: 3, Manifest: &api.ManifestSummary{SHA256: "m1", Files: 10, Bytes: 4096},
			Servers: []smartos.PlatformStatus{{Server: "a", State: smartos.SyncPresent, Manifest: "m1"},
				{Server: "b", State: smartos.SyncPresent, Manifest: "m0"}, {Server: "c", State: smartos.SyncFetching, Bytes: 40, Total: 100, Peer: "a"},
				{Server: "d", State: smartos.SyncFailed, Error: "boom"}, {Server: "e", State: smartos.SyncPresent}}},
		{CatalogEntry: smartos.CatalogEntry{Build: "20240101T000000Z", Size: 123456789, MD5: "0123456789abcdef", ImportedAt: imported}},
	}
	b.Reset()
	at := imported.Local().Format(timeFormat)
	want := `BUILD             SIZE       IMPORTED          CHECKSUM             DEFAULT  PINNED  BOOTS (7d)  WHERE
20250101T000000Z  -          ` + at + `  sha256:abcdef012345  yes      yes     3           present on a, e; outdated on b; fetching on c 40 % from a; failed on d (boom)
20240101T000000Z  117.7 MiB  ` + at + `  md5:0123456789ab     -        -       0           -
`
	if err := Platforms(&b, list); err != nil || b.String() != want {
		t.Errorf("%v:\n%s\nwant:\n%s", err, b.String(), want)
	}
	b.Reset()
	if err := Platforms(&b, list[1:]); err != nil || !strings.HasSuffix(b.String(), "\nno default set: the menu boots the newest build ('rackboot platform default BUILD' picks one)\n") ||
		strings.Contains(b.String(), "WHERE") {
		t.Errorf("no default, one server: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := Platform(&b, list[1]); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"Build:                20240101T000000Z\n", "SHA-256:              -\n", "MD5:                  0123456789abcdef\n",
		"Manifest:             -\n", "Where:                -\n", "Rescue root password: not published for this build"} {
		if !strings.Contains(b.String(), l) {
			t.Errorf("platform: no %q in\n%s", l, b.String())
		}
	}
	if got := manifestLine(list[0].Manifest); got != "sha256:m1, 10 files, 4.0 KiB" {
		t.Errorf("manifest: %q", got)
	}
}

func TestMachines(t *testing.T) {
	now := time.Now()
	skip := true
	m := api.MachineView{
		Machine: machines.Machine{MAC: "52:54:00:00:00:02", Name: "cn2", Arch: "bios", LastIP: "10.0.0.2",
			Labels: map[string]string{"rack": "7", "a": "b"}, BootOnce: "noimport",
			Boots: []machines.BootSummary{{Started: now.Add(-2 * time.Hour), DurationMS: 12345, Result: "OS up", Item: "smartos",
				Slowest: "kernel", Stages: map[string]float64{"kernel": 4321}}}},
		Effective: machines.Effective{Rules: []string{"r1", "r2"}, Settings: machines.Settings{Default: "smartos-x", SkipMenu: &skip,
			BootArgs: []bootargs.KV{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}},
		Boot: &events.Boot{Started: now.Add(-10 * time.Minute), Updated: now.Add(-10*time.Minute + time.Second), Stage: events.StageKernel,
			Progress: &events.Progress{Kind: "kernel", Bytes: 50, Total: 200}},
	}
	bare := api.MachineView{Machine: machines.Machine{MAC: "52:54:00:00:00:01"}}
	var b bytes.Buffer
	if err := Machines(&b, []api.MachineView{bare, m}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "MAC  ") ||
		strings.Join(strings.Fields(lines[1]), " ") != "52:54:00:00:00:01 - - - - - - -" ||
		!strings.Contains(lines[2], " cn2 ") || !strings.Contains(lines[2], events.StageKernel.Label()+" (kernel 25%)") ||
		!strings.Contains(lines[2], "10m0s ago, 1s") {
		t.Errorf("list:\n%s", b.String())
	}

	b.Reset()
	ev := events.Event{Time: now, MAC: m.MAC, Boot: 2, Stage: events.StageKernel, Msg: "hello"}
	Machine(&b, m, []events.Event{ev})
	for _, l := range []string{"labels        a=b rack=7\n", "rules         r1, r2\n", "boot args     a=1,b=2\n", "skip menu     true\n",
		"\nBoots (kept in the store):\n", "12.3s", "OS up", "kernel 4.321s\n",
		"\nTimeline (since rackboot started):\n  " + Event(ev, false) + "\n"} {
		if !strings.Contains(b.String(), l) {
			t.Errorf("show: no %q in\n%s", l, b.String())
		}
	}
	if strings.Contains(b.String(), "root_shadow") {
		t.Errorf("show: root_shadow row with none set:\n%s", b.String())
	}

	if got, want := Event(ev, true), now.Local().Format("15:04:05.000")+" 52:54:00:00:00:02 #2 "; !strings.HasPrefix(got, want) {
		t.Errorf("event with MAC: %q, want prefix %q", got, want)
	}
	if got := Event(events.Event{Time: now, Msg: "x"}, true); !strings.HasSuffix(got, " ?                 -              x") {
		t.Errorf("event without MAC or stage: %q", got)
	}
	if DefaultItem(m) != "smartos-x" || DefaultItem(bare) != "the configured default" {
		t.Error("DefaultItem")
	}
}
