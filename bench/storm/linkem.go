//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

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
	dropped atomic.Int64 // lost on purpose (the loss probability)
	sent    atomic.Int64
	full    atomic.Int64 // tail-dropped: every slot of the delay line in flight
	fds     []int
}

// kernelDrops is how many frames the kernel dropped before the emulator
// read them (its AF_PACKET sockets' receive buffers were full): loss the
// emulator did not choose, which a storm's figures must show.
func (em *linkEm) kernelDrops() int64 {
	var n int64
	for _, fd := range em.fds {
		// PACKET_STATISTICS resets on each read; the caller adds up.
		if st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			n += int64(st.Drops)
		}
	}
	return n
}

// linkemMain runs the emulator: `storm linkem -a IF -b IF -delay D -loss P`.
func linkemMain(args []string) {
	fs := flag.NewFlagSet("linkem", flag.ExitOnError)
	a := fs.String("a", "", "one interface")
	b := fs.String("b", "", "the other interface")
	delay := fs.Duration("delay", 0, "one-way delay")
	loss := fs.Float64("loss", 0, "loss, percent, each direction")
	fs.Parse(args)
	em := &linkEm{delay: *delay, loss: *loss / 100, slots: 1 << 13}
	fa, err := packetSocket(*a)
	if err != nil {
		log.Fatal(err)
	}
	fb, err := packetSocket(*b)
	if err != nil {
		log.Fatal(err)
	}
	em.fds = []int{fa, fb}
	em.kernelDrops() // start the kernel's count from here
	log.Printf("linkem: %s <-> %s, delay %s, loss %.1f%%", *a, *b, em.delay, em.loss*100)
	go em.forward(fa, fb, 1)
	go em.forward(fb, fa, 2)
	// SIGUSR1 asks for the counters (the harness, after each storm). Every
	// second with kernel drops gets a line, by side: they come in bursts,
	// and a burst that meets many machines' retransmissions (synchronised
	// when they all power on at once) shows here.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	tick := time.NewTicker(time.Second)
	start := time.Now()
	var kernel int64
	for {
		select {
		case <-tick.C:
			da, db := em.kernelDropsOf(fa), em.kernelDropsOf(fb)
			kernel += da + db
			if da+db > 0 {
				log.Printf("linkem: %s (%.0f s): kernel dropped %d frames from %s, %d from %s",
					time.Now().UTC().Format("15:04:05"), time.Since(start).Seconds(), da, *a, db, *b)
			}
		case <-usr1:
			kernel += em.kernelDrops()
			log.Printf("%s %d %d %d %d", linkStatsTag, em.sent.Load(), em.dropped.Load(), em.full.Load(), kernel)
		}
	}
}

// kernelDropsOf is kernelDrops for one socket.
func (em *linkEm) kernelDropsOf(fd int) int64 {
	if st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		return int64(st.Drops)
	}
	return 0
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

// linkNice is the emulator's forwarding threads' nice value.
const linkNice = -15

// linkSlack is how early a frame may leave: the delay is kept to within
// this much, and the sender sleeps only for gaps in the traffic.
const linkSlack = 100 * time.Microsecond

const (
	slotSize = 2048 // a frame is at most an MTU: offloads are off on the link
	batch    = 64   // frames per recvmmsg/sendmmsg
)

// mmsghdr is struct mmsghdr (recvmmsg(2)).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// delayLine holds the frames in flight in one direction: a ring of slots,
// head the oldest, tail the next free (counters that only grow).
type delayLine struct {
	n          uint64
	buf        []byte
	iov        []unix.Iovec
	lens       []int // -1: dropped
	due        []int64
	head, tail uint64
	rx, tx     []mmsghdr
}

func newDelayLine(n int) *delayLine {
	d := &delayLine{n: uint64(n), buf: make([]byte, n*slotSize), iov: make([]unix.Iovec, n),
		lens: make([]int, n), due: make([]int64, n), rx: make([]mmsghdr, n), tx: make([]mmsghdr, batch)}
	for i := range d.iov {
		d.iov[i].Base = &d.buf[i*slotSize]
		d.iov[i].SetLen(slotSize)
		d.rx[i].hdr.Iov = &d.iov[i]
		d.rx[i].hdr.SetIovlen(1)
	}
	return d
}

// forward moves frames from in to out on one OS thread, no channels: wait
// (ppoll) until a frame arrives or the oldest is due, read what is there
// (recvmmsg), drop or stamp each, send what is due (sendmmsg).
func (em *linkEm) forward(in, out int, seed uint64) {
	runtime.LockOSThread()
	// tc netem forwards in the kernel's softirq, ahead of every process; a
	// forwarder that waits its turn behind the servers and the other work
	// on 2 cores falls behind and the kernel drops frames on its sockets
	// (kernelDrops), loss no wire would have. A high priority for this
	// thread (Linux: nice is per thread) keeps it close to netem; best
	// effort, it needs CAP_SYS_NICE.
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, linkNice); err != nil {
		log.Printf("linkem: nice %d: %v", linkNice, err)
	}
	d := newDelayLine(em.slots)
	rng := rand.New(rand.NewPCG(seed, 0x11e))
	scratch := make([]byte, 65536)
	fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
	for {
		var ts *unix.Timespec
		if d.head != d.tail {
			wait := time.Duration(d.due[d.head%d.n]-time.Now().UnixNano()) - linkSlack
			t := unix.NsecToTimespec(max(int64(wait), 0))
			ts = &t
		}
		if _, err := unix.Ppoll(fds, ts, nil); err != nil && !errors.Is(err, syscall.EINTR) {
			log.Fatalf("linkem: ppoll: %v", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			em.receive(d, in, rng, scratch)
		}
		em.send(d, out)
	}
}

// receive reads the frames waiting on in into the free slots, a few
// batches at most, so that sending keeps up.
func (em *linkEm) receive(d *delayLine, in int, rng *rand.Rand, scratch []byte) {
	for range 8 {
		free := d.n - (d.tail - d.head)
		if free == 0 {
			// Every slot is in flight: the link's queue is full.
			if _, _, err := unix.Recvfrom(in, scratch, unix.MSG_DONTWAIT); err != nil {
				return
			}
			em.full.Add(1)
			continue
		}
		at := d.tail % d.n
		cnt := min(free, d.n-at, batch)
		k, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(in), uintptr(unsafe.Pointer(&d.rx[at])),
			uintptr(cnt), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return // EAGAIN: nothing more for now
		}
		now := time.Now().Add(em.delay).UnixNano()
		for i := range uint64(k) {
			j := at + i
			d.lens[j], d.due[j] = int(d.rx[j].len), now
			if d.rx[j].hdr.Flags&unix.MSG_TRUNC != 0 || (em.loss > 0 && rng.Float64() < em.loss) {
				d.lens[j] = -1
				em.dropped.Add(1)
			}
		}
		d.tail += uint64(k)
		if uint64(k) < cnt {
			return
		}
	}
}

// send writes the frames that are due, oldest first.
func (em *linkEm) send(d *delayLine, out int) {
	limit := time.Now().Add(linkSlack).UnixNano()
	for d.head != d.tail {
		n, i := 0, d.head
		for ; i != d.tail && n < batch && d.due[i%d.n] <= limit; i++ {
			j := i % d.n
			if d.lens[j] < 0 {
				continue
			}
			d.iov[j].SetLen(d.lens[j])
			d.tx[n].hdr = unix.Msghdr{Iov: &d.iov[j]}
			d.tx[n].hdr.SetIovlen(1)
			n++
		}
		sent := 0
		for sent < n {
			k, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(out), uintptr(unsafe.Pointer(&d.tx[sent])),
				uintptr(n-sent), 0, 0, 0)
			if errno != 0 {
				if errno == unix.ENOBUFS || errno == unix.EAGAIN || errno == unix.EINTR {
					time.Sleep(20 * time.Microsecond)
					continue
				}
				log.Fatalf("linkem: sendmmsg: %v", errno)
			}
			sent += int(k)
		}
		em.sent.Add(int64(n))
		for ; d.head != i; d.head++ {
			d.iov[d.head%d.n].SetLen(slotSize)
		}
		if n < batch && (i == d.tail || d.due[i%d.n] > limit) {
			return
		}
	}
}

// linkStatsTag starts the emulator's counters line: frames forwarded,
// lost on purpose, tail-dropped, dropped by the kernel.
const linkStatsTag = "linkem: stats"

// LinkStats are the emulated link's frame counts over one storm, both
// directions.
type LinkStats struct {
	Forwarded int64 `json:"forwarded"`
	Lost      int64 `json:"lost"`           // by the loss probability
	TailDrops int64 `json:"tail_dropped"`   // the delay line was full
	Kernel    int64 `json:"kernel_dropped"` // the emulator did not read them in time
}

// linkStats asks the link emulator for its counters and waits for them.
func (l *lab) linkStats(ctx context.Context) (*LinkStats, error) {
	if l.linkem == nil {
		return nil, nil
	}
	before, _ := os.ReadFile(l.linkem.log)
	if err := syscall.Kill(l.linkem.pid(), syscall.SIGUSR1); err != nil {
		return nil, err
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(l.linkem.log)
		if len(b) <= len(before) {
			continue
		}
		i := strings.LastIndex(string(b), linkStatsTag)
		if i < len(before) {
			continue
		}
		var st LinkStats
		line, _, _ := strings.Cut(string(b[i+len(linkStatsTag):]), "\n")
		if _, err := fmt.Sscan(line, &st.Forwarded, &st.Lost, &st.TailDrops, &st.Kernel); err != nil {
			return nil, fmt.Errorf("link emulator's counters %q: %w", line, err)
		}
		return &st, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("link emulator did not report its counters; see %s", l.linkem.log)
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
