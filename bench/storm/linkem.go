//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// This kernel (a Firecracker guest) has no sch_netem, nor any other qdisc
// that delays packets (fq, etf), so a lossy, slow link is emulated in user
// space: a process in a namespace of its own between the clients and the
// bridge reads every Ethernet frame from one side (AF_PACKET), drops it with
// the given probability, and writes it to the other side the given delay
// later, in order. Offloads are off on the link (see newLab), so a frame is
// at most one MTU and has its checksums filled in.

// linkEm is one emulated link: two interfaces, two directions.
type linkEm struct {
	delay   time.Duration
	loss    float64 // 0..1
	slots   int
	dropped atomic.Int64
	sent    atomic.Int64
	full    atomic.Int64
}

// linkemMain runs the emulator: `storm linkem -a IF -b IF -delay D -loss P`.
func linkemMain(args []string) {
	fs := flag.NewFlagSet("linkem", flag.ExitOnError)
	a := fs.String("a", "", "one interface")
	b := fs.String("b", "", "the other interface")
	delay := fs.Duration("delay", 0, "one-way delay")
	loss := fs.Float64("loss", 0, "loss, percent, each direction")
	fs.Parse(args)
	em := &linkEm{delay: *delay, loss: *loss / 100, slots: 1 << 14}
	fa, err := packetSocket(*a)
	if err != nil {
		log.Fatal(err)
	}
	fb, err := packetSocket(*b)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("linkem: %s <-> %s, delay %s, loss %.1f%%", *a, *b, em.delay, em.loss*100)
	go em.forward(fa, fb, 1)
	go em.forward(fb, fa, 2)
	go func() {
		for range time.Tick(5 * time.Second) {
			log.Printf("linkem: %d frames forwarded, %d dropped, %d tail-dropped", em.sent.Load(), em.dropped.Load(), em.full.Load())
		}
	}()
	select {}
}

// packetSocket opens a raw socket that sees every frame arriving on ifname
// (not the ones we send) and sends on it.
func packetSocket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return -1, fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 32<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return -1, fmt.Errorf("bind to %s: %w", ifname, err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return -1, fmt.Errorf("promiscuous %s: %w", ifname, err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

type frame struct {
	buf []byte
	n   int
	due time.Time
}

// forward moves frames from in to out: a reader that drops or stamps each
// frame, a writer that sends each when it is due.
func (em *linkEm) forward(in, out int, seed uint64) {
	free := make(chan *frame, em.slots)
	queue := make(chan *frame, em.slots)
	for range em.slots {
		free <- &frame{buf: make([]byte, 65536)}
	}
	go func() {
		runtime.LockOSThread()
		for f := range queue {
			if d := time.Until(f.due); d > 0 {
				time.Sleep(d)
			}
			for {
				_, err := unix.Write(out, f.buf[:f.n])
				if err == nil || !errors.Is(err, syscall.ENOBUFS) {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
			em.sent.Add(1)
			free <- f
		}
	}()
	runtime.LockOSThread()
	rng := rand.New(rand.NewPCG(seed, 0x11e))
	for {
		var f *frame
		select {
		case f = <-free:
		default:
			// Every slot is in flight: the link's queue is full.
			em.full.Add(1)
			var scratch [65536]byte
			unix.Read(in, scratch[:])
			continue
		}
		n, err := unix.Read(in, f.buf)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				free <- f
				continue
			}
			log.Fatalf("linkem: read: %v", err)
		}
		if em.loss > 0 && rng.Float64() < em.loss {
			em.dropped.Add(1)
			free <- f
			continue
		}
		f.n, f.due = n, time.Now().Add(em.delay)
		queue <- f
	}
}

// linkSpec parses "delay 1ms loss 5%" (the tc netem words this emulator
// understands).
func linkSpec(s string) (delay time.Duration, loss float64, err error) {
	f := strings.Fields(s)
	for i := 0; i+1 < len(f); i += 2 {
		switch f[i] {
		case "delay":
			if delay, err = time.ParseDuration(f[i+1]); err != nil {
				return 0, 0, fmt.Errorf("link %q: delay: %w", s, err)
			}
		case "loss":
			if _, err = fmt.Sscanf(strings.TrimSuffix(f[i+1], "%"), "%g", &loss); err != nil {
				return 0, 0, fmt.Errorf("link %q: loss: %w", s, err)
			}
		default:
			return 0, 0, fmt.Errorf("link %q: %q: only delay and loss are emulated", s, f[i])
		}
	}
	if len(f)%2 != 0 {
		return 0, 0, fmt.Errorf("link %q: want pairs such as \"delay 1ms loss 5%%\"", s)
	}
	return delay, loss, nil
}

// isLinkem reports whether this process was started as the emulator.
func isLinkem() bool { return len(os.Args) > 1 && os.Args[1] == "linkem" }
