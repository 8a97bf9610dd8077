package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Opcodes, RFC 1350 §5 and RFC 2347 (OACK).
const (
	opRRQ   uint16 = 1
	opWRQ   uint16 = 2
	opDATA  uint16 = 3
	opACK   uint16 = 4
	opERROR uint16 = 5
	opOACK  uint16 = 6
)

// Error codes, RFC 1350 §5 and RFC 2347 (8).
const (
	codeUndefined  uint16 = 0
	codeNotFound   uint16 = 1
	codeAccess     uint16 = 2
	codeIllegalOp  uint16 = 4
	codeUnknownTID uint16 = 5
	codeOptions    uint16 = 8
)

var (
	errMalformed = errors.New("malformed request")
	errBadMode   = fmt.Errorf("%w: unsupported transfer mode", errMalformed)
)

// option is one name/value pair of a request or an OACK. Names are lower case:
// RFC 2347 makes them case-insensitive.
type option struct {
	name, value string
}

// optionList formats options for logs as "blksize=1468 tsize=0".
type optionList []option

func (l optionList) String() string {
	var b strings.Builder
	for i, o := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", o.name, o.value)
	}
	return b.String()
}

// request is a parsed RRQ or WRQ.
type request struct {
	op   uint16
	file string // as sent: not cleaned, not validated
	mode string // lower case: "octet" or "netascii"
	opts []option
}

// parseRequest parses an RRQ or WRQ: opcode, file name, mode and option pairs,
// each string ended by a NUL (RFC 1350 §5, RFC 2347). Trailing bytes that do not
// make a complete option pair are ignored, as are empty option names, since some
// PXE ROMs pad their requests with NULs. A request with a mode other than octet
// or netascii ("mail" is obsolete) returns the request and an error wrapping
// errBadMode, so that the caller can answer it.
func parseRequest(b []byte) (request, error) {
	if len(b) < 2 {
		return request{}, fmt.Errorf("%w: %d bytes, shorter than an opcode", errMalformed, len(b))
	}
	req := request{op: binary.BigEndian.Uint16(b)}
	if req.op != opRRQ && req.op != opWRQ {
		return request{}, fmt.Errorf("%w: opcode %d is not RRQ or WRQ", errMalformed, req.op)
	}
	fields := splitStrings(b[2:])
	if len(fields) < 2 {
		return request{}, fmt.Errorf("%w: want a file name and a mode, each ended by NUL", errMalformed)
	}
	if fields[0] == "" {
		return request{}, fmt.Errorf("%w: empty file name", errMalformed)
	}
	req.file, req.mode = fields[0], strings.ToLower(fields[1])
	for i := 2; i+1 < len(fields) && fields[i] != ""; i += 2 {
		req.opts = append(req.opts, option{strings.ToLower(fields[i]), fields[i+1]})
	}
	if req.mode != "octet" && req.mode != "netascii" {
		return req, fmt.Errorf("%w %q", errBadMode, fields[1])
	}
	return req, nil
}

// splitStrings returns the NUL-terminated strings in b; an unterminated tail is dropped.
func splitStrings(b []byte) []string {
	var out []string
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return out
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
}

// reply is a packet a client sends on a transfer socket: an ACK or an ERROR.
type reply struct {
	op    uint16
	block uint16 // ACK
	err   *ClientError
}

// parseReply parses an ACK or ERROR; anything else reports ok == false. An
// ERROR whose message lacks its NUL is accepted: it ends the transfer anyway.
func parseReply(b []byte) (r reply, ok bool) {
	if len(b) < 4 {
		return reply{}, false
	}
	r.op = binary.BigEndian.Uint16(b)
	switch r.op {
	case opACK:
		r.block = binary.BigEndian.Uint16(b[2:])
		return r, true
	case opERROR:
		msg, _, _ := bytes.Cut(b[4:], []byte{0})
		r.err = &ClientError{Code: binary.BigEndian.Uint16(b[2:]), Message: string(msg)}
		return r, true
	}
	return reply{}, false
}

// encodeError builds an ERROR packet.
func encodeError(code uint16, msg string) []byte {
	b := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(b, opERROR)
	binary.BigEndian.PutUint16(b[2:], code)
	b = append(b, msg...)
	return append(b, 0)
}

// encodeOACK builds an option acknowledgment (RFC 2347).
func encodeOACK(opts []option) []byte {
	b := binary.BigEndian.AppendUint16(nil, opOACK)
	for _, o := range opts {
		b = append(b, o.name...)
		b = append(b, 0)
		b = append(b, o.value...)
		b = append(b, 0)
	}
	return b
}

// putDataHeader writes a DATA header into b[:4]. Block numbers are 16 bits and
// wrap from 65535 to 0, as tftp-hpa does and iPXE and EDK2 expect, so files over
// 65535 blocks (32 MiB at 512-byte blocks) work.
func putDataHeader(b []byte, block int64) {
	binary.BigEndian.PutUint16(b, opDATA)
	binary.BigEndian.PutUint16(b[2:], uint16(block))
}

// ClientError is an ERROR packet received from the client: it ends the transfer.
type ClientError struct {
	Code    uint16
	Message string
}

func (e *ClientError) Error() string {
	return fmt.Sprintf("client sent error %d: %q", e.Code, e.Message)
}
