//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"time"
)

// ScreenText turns a serial console capture into plain text: it drops
// terminal escape sequences (SeaBIOS's serial console and OVMF position the
// cursor before every character or line), carriage returns and other control
// characters; a backspace erases the character before it on the same line
// (iPXE erases its "Press Ctrl-B" prompt that way). Newlines and tabs stay.
func ScreenText(raw []byte) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == 0x1b: // ESC
			i = skipEscape(raw, i)
		case c == '\b':
			if n := len(b); n > 0 && b[n-1] != '\n' {
				b = b[:n-1]
			}
		case c == '\n' || c == '\t':
			b = append(b, c)
		case c < 0x20 || c == 0x7f:
			// \r, bell, ...: nothing visible to keep.
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// skipEscape returns the index of the last byte of the escape sequence that
// starts at raw[i] (an ESC).
func skipEscape(raw []byte, i int) int {
	if i+1 >= len(raw) {
		return i
	}
	switch raw[i+1] {
	case '[': // CSI: parameters and intermediates, then a final byte 0x40–0x7e
		for j := i + 2; j < len(raw); j++ {
			if raw[j] >= 0x40 && raw[j] <= 0x7e {
				return j
			}
		}
		return len(raw) - 1
	case '(', ')', '#', '%': // charset selection and friends: one more byte
		return min(i+2, len(raw)-1)
	default: // two-byte sequences such as ESC c (reset)
		return i + 1
	}
}

// Console is a serial console being written to a file by QEMU.
type Console struct {
	Path string

	raw  []byte // last content read
	text string // ScreenText(raw)
}

// Text returns the console's content so far as plain text. QEMU only
// appends to the file, so it is read again only when its size changed.
func (c *Console) Text() string {
	if fi, err := os.Stat(c.Path); err == nil && fi.Size() == int64(len(c.raw)) && c.raw != nil {
		return c.text
	}
	raw, err := os.ReadFile(c.Path)
	if err == nil && len(raw) != len(c.raw) {
		c.raw, c.text = raw, ScreenText(raw)
	}
	return c.text
}

// Count returns how many times re matches the console text so far.
func (c *Console) Count(re *regexp.Regexp) int {
	return len(re.FindAllStringIndex(c.Text(), -1))
}

// pollInterval is how often consoles and logs are re-read while waiting.
const pollInterval = 250 * time.Millisecond

// WaitFor polls the console until re matches, and returns the match. It gives
// up when ctx ends or when stopped is closed (the writer has exited) and a
// final read does not match either.
func (c *Console) WaitFor(ctx context.Context, re *regexp.Regexp, stopped <-chan struct{}) (string, error) {
	return c.WaitForEvery(ctx, re, stopped, pollInterval)
}

// WaitForEvery is WaitFor looking every d: a benchmark's 10 ms times the
// line to within that, where pollInterval would add up to 250 ms to every
// boot; a look costs a stat while the console does not grow.
func (c *Console) WaitForEvery(ctx context.Context, re *regexp.Regexp, stopped <-chan struct{}, d time.Duration) (string, error) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		if m := re.FindString(c.Text()); m != "" {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for /%s/ on %s: %w", re, c.Path, ctx.Err())
		case <-stopped:
			if m := re.FindString(c.Text()); m != "" {
				return m, nil
			}
			return "", fmt.Errorf("waiting for /%s/ on %s: the virtual machine exited first", re, c.Path)
		case <-tick.C:
		}
	}
}

// Patterns seen on the consoles of this harness's clients.
var (
	// IPXEBanner matches once per start of iPXE (the option ROM, or a
	// chainloaded undionly.kpxe or snponly.efi).
	IPXEBanner = regexp.MustCompile(`iPXE 1\.\S+ -- Open Source Network Boot Firmware`)
	// IPXEDHCP matches once per DHCP configuration attempt by iPXE.
	IPXEDHCP = regexp.MustCompile(`Configuring \(net\d+ [0-9a-f:]+\)`)
	// KernelDone is the test kernel's last line.
	KernelDone = regexp.MustCompile(`RBK done`)
)

// WaitUntil calls cond every pollInterval until it returns true or ctx ends.
func WaitUntil(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
