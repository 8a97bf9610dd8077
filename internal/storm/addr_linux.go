package storm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// addrManager puts the simulated machines' leased addresses on the client
// interface, so that each machine's TFTP and HTTP traffic comes from its own
// address as a real machine's would, and takes them off again at the end.
// It talks rtnetlink directly (RTM_NEWADDR, RTM_DELADDR; rtnetlink(7)):
// hundreds of `ip addr add` processes would cost more than the boots.
type addrManager struct {
	ifindex int

	mu    sync.Mutex
	fd    int
	seq   uint32
	added []netip.Prefix // ours, in order
	have  map[netip.Addr]bool
}

func newAddrManager(ifname string) (*addrManager, error) {
	if ifname == "" {
		return nil, errors.New("adding the leased addresses needs --interface")
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &addrManager{ifindex: ifi.Index, fd: fd, have: map[netip.Addr]bool{}}, nil
}

// add puts a/bits on the interface. An address the interface already has
// (ours or not) is left as it is.
func (m *addrManager) add(a netip.Addr, bits int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.have[a] {
		return nil
	}
	err := m.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, a, bits)
	switch {
	case errors.Is(err, syscall.EEXIST):
		m.have[a] = true // someone else's: not ours to remove
		return nil
	case err != nil:
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("add address %v/%d: %w (needs root or CAP_NET_ADMIN)", a, bits, err)
		}
		return fmt.Errorf("add address %v/%d: %w", a, bits, err)
	}
	m.have[a] = true
	m.added = append(m.added, netip.PrefixFrom(a, bits))
	return nil
}

// close removes the addresses added, newest first (so that a primary address
// of ours goes after its secondaries), and closes the netlink socket.
func (m *addrManager) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for i := len(m.added) - 1; i >= 0; i-- {
		p := m.added[i]
		if err := m.request(unix.RTM_DELADDR, 0, p.Addr(), p.Bits()); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("remove address %v: %w", p, err))
		}
	}
	m.added = nil
	errs = append(errs, unix.Close(m.fd))
	return errors.Join(errs...)
}

// request sends one address message and waits for the kernel's answer.
func (m *addrManager) request(typ uint16, flags uint16, a netip.Addr, bits int) error {
	m.seq++
	ip := a.As4()
	msg := make([]byte, 0, 64)
	ne := binary.NativeEndian
	msg = ne.AppendUint32(msg, 0) // length, set below
	msg = ne.AppendUint16(msg, typ)
	msg = ne.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	msg = ne.AppendUint32(msg, m.seq)
	msg = ne.AppendUint32(msg, 0) // port id: the kernel fills it in
	// struct ifaddrmsg
	msg = append(msg, unix.AF_INET, byte(bits), 0, unix.RT_SCOPE_UNIVERSE)
	msg = ne.AppendUint32(msg, uint32(m.ifindex))
	for _, attr := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		msg = ne.AppendUint16(msg, 4+4)
		msg = ne.AppendUint16(msg, attr)
		msg = append(msg, ip[:]...)
	}
	ne.PutUint32(msg, uint32(len(msg)))
	if err := unix.Sendto(m.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(m.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(ne.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			typ, seq := ne.Uint16(b[4:]), ne.Uint32(b[8:])
			if seq == m.seq && typ == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
				if code := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])); code != 0 {
					return syscall.Errno(-code)
				}
				return nil
			}
			b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
		}
	}
}
