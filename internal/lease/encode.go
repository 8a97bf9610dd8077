package lease

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends l as JSON, the same document encoding/json writes for
// it (decode reads it back with encoding/json). It is written by hand
// because it runs for every ACK, under the Manager's lock: encoding/json's
// reflection cost more than the rest of the ACK's work put together (pprof
// under perfdhcp load, BENCHMARKS.md).
func appendJSON(b []byte, l *Lease) []byte {
	b = append(b, `{"ip":"`...)
	b = l.IP.AppendTo(b)
	b = append(b, `","subnet":"`...)
	b = l.Subnet.AppendTo(b)
	b = append(b, '"')
	if len(l.MAC) > 0 {
		b = append(b, `,"mac":"`...)
		b = appendMAC(b, l.MAC)
		b = append(b, '"')
	}
	if l.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = appendString(b, l.ClientID)
	}
	if l.Hostname != "" {
		b = append(b, `,"hostname":`...)
		b = appendString(b, l.Hostname)
	}
	b = append(b, `,"state":`...)
	b = appendString(b, string(l.State))
	b = append(b, `,"start":"`...)
	b = l.Start.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","expires":"`...)
	b = l.Expires.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if l.Reserved {
		b = append(b, `,"reserved":true`...)
	}
	if l.Relay.IsValid() {
		b = append(b, `,"relay":"`...)
		b = l.Relay.AppendTo(b)
		b = append(b, '"')
	}
	return append(b, '}')
}

func appendMAC(b []byte, m MAC) []byte {
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = hex.AppendEncode(b, []byte{x})
	}
	return b
}

// appendString appends s as a JSON string: control characters, quotes and
// backslashes escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json
// does). Host names come from clients (option 12) and may hold anything.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = strconv.AppendInt(b, int64(r-'\u2028'+8), 16)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
