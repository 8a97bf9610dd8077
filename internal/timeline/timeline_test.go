package timeline

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/observe"
	"rackboot/internal/pxe"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/store/etcdstore/etcdtest"
)

const (
	mac    = "52:54:00:12:34:56"
	prefix = "/rackboot/"
	build  = "20250214T000000Z"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// openStore is one server's connection to the cluster.
func openStore(t *testing.T, c *etcdtest.Cluster) *etcdstore.Store {
	t.Helper()
	st, err := etcdstore.Open(context.Background(), etcdstore.Options{Endpoints: c.Endpoints(), Prefix: prefix,
		RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// start shares log as server name; Close is the test's, or cleanup's.
func start(t *testing.T, st *etcdstore.Store, name string, log *events.Log, opt Options) *Sharer {
	t.Helper()
	opt.Store, opt.Server, opt.Log = st, name, log
	if opt.RequestTimeout == 0 {
		opt.RequestTimeout = 500 * time.Millisecond
	}
	opt.Logger = testLogger(t).With("server", name)
	sh, err := Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sh.Close)
	return sh
}

// waitFor polls cond; the bound only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stagesOf(b events.Boot) string {
	var s []events.Stage
	for _, st := range b.Stages {
		s = append(s, st.Stage)
	}
	return fmt.Sprint(s)
}

func keys(t *testing.T, st *etcdstore.Store) int64 {
	t.Helper()
	resp, err := st.Client().Get(context.Background(), prefix+"timeline/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// TestOneBootAcrossServers: the PXE ROM's DHCP, iPXE over TFTP and iPXE's
// DHCP on server a; the menu, kernel and archive over HTTP on server b.
// Both servers' timelines hold one boot that reached "booted kernel", with
// every stage, and nothing went round: each event is in the store once.
func TestOneBootAcrossServers(t *testing.T) {
	c := etcdtest.Start(t, 1)
	stA, stB := openStore(t, c), openStore(t, c)
	logA, logB := events.NewLog(events.Options{}), events.NewLog(events.Options{})
	a := start(t, stA, "a", logA, Options{})
	b := start(t, stB, "b", logB, Options{})

	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	logA.Publish(events.Event{Time: at(0), MAC: mac, Type: events.TypeDHCP, DHCPType: "DISCOVER", IP: "127.0.0.9", Arch: "bios"})
	logA.Publish(events.Event{Time: at(100), MAC: mac, Type: events.TypeTFTP, File: "undionly.kpxe", Kind: events.KindNBP, Bytes: 70000})
	logA.Publish(events.Event{Time: at(200), MAC: mac, Type: events.TypeDHCP, DHCPType: "REQUEST", IPXE: true, IP: "127.0.0.9"})
	// b sees its own steps before a's reach it.
	logB.Publish(events.Event{Time: at(300), MAC: mac, Type: events.TypeMenu, Item: "smartos"})
	logB.Publish(events.Event{Time: at(400), MAC: mac, Type: events.TypeHTTP, File: "k", Kind: events.KindKernel, Bytes: 10, Total: 10,
		Needs: []string{"a"}})
	logB.Publish(events.Event{Time: at(500), MAC: mac, Type: events.TypeHTTP, File: "a", Kind: events.KindArchive, Bytes: 100, Total: 100})

	booted := func(l *events.Log) func() bool {
		return func() bool {
			bt, ok := l.Boot(mac)
			return ok && bt.Stage == events.StageBootedKernel && len(bt.Stages) == 7
		}
	}
	waitFor(t, "a's timeline to hold the whole boot", booted(logA))
	waitFor(t, "b's timeline to hold the whole boot", booted(logB))
	want := "[dhcp nbp ipxe-dhcp menu kernel archive booted-kernel]"
	for name, l := range map[string]*events.Log{"a": logA, "b": logB} {
		bt, _ := l.Boot(mac)
		if stagesOf(bt) != want || bt.Number != 1 || !bt.Started.Equal(at(0)) || bt.Result != "booted kernel" || bt.Bytes != 70110 {
			t.Errorf("%s: boot %d started %s (want %s), stages %s, result %q, bytes %d", name, bt.Number, bt.Started, at(0),
				stagesOf(bt), bt.Result, bt.Bytes)
		}
		// Three steps of each server and the booted event each derived.
		if evs := l.Machine(mac); len(evs) != 7 {
			t.Errorf("%s: %d events, want 7: %+v", name, len(evs), evs)
		}
	}
	// The OS calls back on a: b's timeline ends the boot too.
	logA.Publish(events.Event{Time: at(5000), MAC: mac, Type: events.TypeUp})
	waitFor(t, "b to see the OS up", func() bool { bt, _ := logB.Boot(mac); return bt.Result == "OS up" })

	a.Close()
	b.Close() // each writes what it holds: an event sent round would be in the store now
	if n := keys(t, stA); n != 7 {
		t.Errorf("%d records in the store, want 7 (a's 4, b's 3)", n)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Published != 4 || sa.Received != 3 || sb.Published != 3 || sb.Received != 4 || sa.Dropped+sb.Dropped != 0 {
		t.Errorf("stats a %+v, b %+v; want a 4 published 3 received, b 3 and 4, none dropped", sa, sb)
	}
	if n := len(logA.Machine(mac)); n != 8 {
		t.Errorf("a's timeline: %d events, want 8", n)
	}
	if n := len(logB.Machine(mac)); n != 8 {
		t.Errorf("b's timeline: %d events, want 8", n)
	}
	for _, ev := range logA.Machine(mac) {
		if (ev.Server == "b") != (ev.Type == events.TypeMenu || ev.Type == events.TypeHTTP || ev.Type == events.TypeBooted) {
			t.Errorf("a's event %s %s names server %q", ev.Type, ev.File, ev.Server)
		}
	}
}

// TestNamingAcrossServers: server a sees the machine's DHCP (its MAC at
// 127.0.0.9); server b, which never saw it, names the machine of an HTTP
// request from that address.
func TestNamingAcrossServers(t *testing.T) {
	c := etcdtest.Start(t, 1)
	stA, stB := openStore(t, c), openStore(t, c)
	kernel := "smartos/" + build + "/platform/i86pc/kernel/amd64/unix"
	archive := "smartos/" + build + "/platform/i86pc/amd64/boot_archive"
	files := fstest.MapFS{kernel: {Data: make([]byte, 6)}, archive: {Data: make([]byte, 100)}}
	sightB := new(boot.Sightings)
	obA := observe.New(observe.Options{Files: files})
	obB := observe.New(observe.Options{Files: files, Sightings: sightB})
	defer obA.Close()
	defer obB.Close()
	start(t, stA, "a", obA.Events, Options{Deliver: obA.Remote})
	start(t, stB, "b", obB.Events, Options{Deliver: obB.Remote})

	hw, _ := net.ParseMAC(mac)
	client := netip.MustParseAddr("127.0.0.9")
	obA.DHCP(dhcp.Event{Time: time.Now(), Type: "REQUEST", MAC: hw, Arch: pxe.ArchBIOS, IPXE: true, ClientIP: client,
		VendorClass: "PXEClient:Arch:00000", Outcome: dhcp.Answered, BootFile: "http://127.0.0.1/boot.ipxe"})
	waitFor(t, "b to learn who is at 127.0.0.9", func() bool { s, ok := sightB.Lookup(client); return ok && s.MAC.String() == mac })

	obB.HTTP(httpd.FileEvent{Client: client, Path: kernel, Status: 200, Bytes: 6})
	obB.HTTP(httpd.FileEvent{Client: client, Path: archive, Status: 200, Bytes: 100})
	evs := obB.Events.Machine(mac)
	if len(evs) != 4 || evs[1].Kind != events.KindKernel || evs[1].Server != "" || evs[3].Type != events.TypeBooted {
		t.Fatalf("b's events of the machine: %+v", evs)
	}
	waitFor(t, "a to see the boot b served", func() bool { bt, _ := obA.Events.Boot(mac); return bt.Stage == events.StageBootedKernel })
	if bt, _ := obA.Events.Boot(mac); bt.Number != 1 || bt.Kernel != kernel {
		t.Errorf("a's boot %+v", bt)
	}
}

// TestStoreDown: with etcd gone, a server's events still reach its own
// timeline; the publisher holds MaxPending of them, drops and counts the
// rest, counts its failed writes, and publishes what it held when etcd is
// back.
func TestStoreDown(t *testing.T) {
	c := etcdtest.Start(t, 1)
	stA, stB := openStore(t, c), openStore(t, c)
	logA, logB := events.NewLog(events.Options{}), events.NewLog(events.Options{})
	a := start(t, stA, "a", logA, Options{MaxPending: 4})
	b := start(t, stB, "b", logB, Options{})

	logA.Publish(events.Event{Time: time.Now(), MAC: mac, Type: events.TypeDHCP, DHCPType: "DISCOVER"})
	waitFor(t, "the first event to reach b", func() bool { return b.Stats().Received == 1 })

	c.Kill(0)
	for i := range 10 {
		out := logA.Publish(events.Event{Time: time.Now(), MAC: fmt.Sprintf("52:54:00:00:01:%02x", i), Type: events.TypeDHCP,
			DHCPType: "DISCOVER"})
		if len(out) != 1 || out[0].Seq == 0 {
			t.Fatalf("a's own timeline did not take event %d while etcd is down: %+v", i, out)
		}
	}
	waitFor(t, "6 of the 10 to be dropped", func() bool { return a.Stats().Dropped == 6 })
	waitFor(t, "a failed write to be counted", func() bool { return a.Stats().Failures > 0 })
	if s := a.Stats(); s.Published != 1 {
		t.Errorf("published %d while etcd was down", s.Published)
	}

	c.Restart(0)
	waitFor(t, "the 4 held events to be published", func() bool { return a.Stats().Published == 5 })
	waitFor(t, "b to receive them", func() bool { return b.Stats().Received == 5 })
	for i := 6; i < 10; i++ {
		if _, ok := logB.Boot(fmt.Sprintf("52:54:00:00:01:%02x", i)); !ok {
			t.Errorf("b has no boot of the held event %d", i)
		}
	}
	a.Close()
	if s := a.Stats(); s.Dropped != 6 || s.Published != 5 {
		t.Errorf("a's stats %+v: want 6 dropped, 5 published", s)
	}
	if n := keys(t, stA); n != 5 {
		t.Errorf("%d records, want 5", n)
	}
}

// TestBatchesSplitAndExpire: a batch larger than etcd's transaction limit
// goes in several transactions; records carry a lease of Retention, and a
// starting server reads the newest of them.
func TestBatchesSplitAndExpire(t *testing.T) {
	c := etcdtest.Start(t, 1)
	stA, stB := openStore(t, c), openStore(t, c)
	logA := events.NewLog(events.Options{})
	a := start(t, stA, "a", logA, Options{Interval: time.Second})
	const n = 300 // more than etcd's 128 operations in one transaction
	for i := range n {
		logA.Publish(events.Event{Time: time.Now(), MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", i/256, i%256), Type: events.TypeDHCP,
			DHCPType: "DISCOVER"})
	}
	waitFor(t, "every event published", func() bool { return a.Stats().Published == n })
	if s := a.Stats(); s.Failures != 0 {
		t.Errorf("failed writes: %+v", s)
	}
	resp, err := stA.Client().Get(context.Background(), prefix+"timeline/", clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("a record without a lease: %+v, %v", resp, err)
	}
	ttl, err := stA.Client().TimeToLive(context.Background(), clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.GrantedTTL != int64(DefaultRetention/time.Second) || ttl.TTL <= 0 {
		t.Errorf("lease %+v, %v; want granted for %s", ttl, err, DefaultRetention)
	}

	// A server that starts now reads the newest Backfill records.
	logB := events.NewLog(events.Options{})
	b := start(t, stB, "b", logB, Options{Backfill: 100})
	waitFor(t, "b's backfill", func() bool { return b.Stats().Received == 100 })
	if _, ok := logB.Boot(fmt.Sprintf("52:54:00:00:%02x:%02x", (n-1)/256, (n-1)%256)); !ok {
		t.Error("the newest record is not in b's timeline")
	}
}
