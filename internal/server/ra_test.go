package server

import (
	"net"
	"testing"
	"time"

	"rackboot/internal/boot"
)

func TestBootClients(t *testing.T) {
	var b bootClients
	mac := net.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}
	if b.has(mac) {
		t.Fatal("has a MAC never noted")
	}
	b.note(mac, time.Now())
	if !b.has(mac) {
		t.Error("a noted MAC is not booting")
	}
	old := net.HardwareAddr{0x52, 0x54, 0, 1, 2, 4}
	b.note(old, time.Now().Add(-boot.DefaultSightingTTL))
	if b.has(old) {
		t.Error("a MAC seen a sighting's lifetime ago is still booting")
	}
	b.note(nil, time.Now())
	if len(b.seen) != 2 {
		t.Errorf("%d entries, want 2", len(b.seen))
	}
}
