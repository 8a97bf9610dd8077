package tftp

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"
	"time"
)

var transferFiles = fstest.MapFS{
	"small.txt":    {Data: []byte("hello, rackboot\n")},
	"empty":        {Data: nil},
	"three-blocks": {Data: pattern(3 * 512)},
	"big.bin":      {Data: pattern(100_000)},
	"64x8":         {Data: pattern(64 * 8)},
	"dir/ipxe.efi": {Data: pattern(4000)},
	"lines.txt":    {Data: []byte("a\nb\r\nc\r")},
}

type transferCase struct {
	name      string
	file      string
	mode      string
	opts      []string
	maxBlock  int
	want      []byte            // default: the file
	wantOACK  map[string]string // nil: DATA 1 straight away
	wantBlock int               // block size of the DATA packets; default 512
}

var transferCases = []transferCase{
	{name: "rfc1350 plain", file: "small.txt"},
	{name: "empty file is one empty block", file: "empty"},
	{name: "exact multiple ends with empty block", file: "three-blocks"},
	{name: "many blocks", file: "big.bin"},
	{name: "subdirectory", file: "dir/ipxe.efi"},
	{name: "backslash separator", file: `dir\ipxe.efi`, want: transferFiles["dir/ipxe.efi"].Data},
	{name: "dot elements cleaned", file: "./dir//ipxe.efi", want: transferFiles["dir/ipxe.efi"].Data},
	{name: "mode is case-insensitive", file: "small.txt", mode: "OCTET"},
	{name: "blksize", file: "big.bin", opts: []string{"blksize", "1024"},
		wantOACK: map[string]string{"blksize": "1024"}, wantBlock: 1024},
	{name: "blksize minimum", file: "small.txt", opts: []string{"blksize", "8"},
		wantOACK: map[string]string{"blksize": "8"}, wantBlock: 8},
	{name: "blksize capped to MaxBlockSize", file: "big.bin", opts: []string{"blksize", "65464"},
		wantOACK: map[string]string{"blksize": "1468"}, wantBlock: 1468},
	{name: "blksize 65464 allowed", file: "big.bin", opts: []string{"blksize", "65464"}, maxBlock: 65464,
		wantOACK: map[string]string{"blksize": "65464"}, wantBlock: 65464},
	{name: "blksize out of range ignored", file: "small.txt", opts: []string{"blksize", "7"}},
	{name: "blksize too big ignored", file: "small.txt", opts: []string{"blksize", "65465"}},
	{name: "blksize not a number ignored", file: "small.txt", opts: []string{"blksize", "big"}},
	{name: "tsize alone", file: "big.bin", opts: []string{"tsize", "0"},
		wantOACK: map[string]string{"tsize": "100000"}},
	{name: "tsize of empty file", file: "empty", opts: []string{"tsize", "0"},
		wantOACK: map[string]string{"tsize": "0"}},
	{name: "timeout echoed", file: "small.txt", opts: []string{"timeout", "3"},
		wantOACK: map[string]string{"timeout": "3"}},
	{name: "timeout out of range ignored", file: "small.txt", opts: []string{"timeout", "0"}},
	{name: "windowsize 1", file: "big.bin", opts: []string{"windowsize", "1"},
		wantOACK: map[string]string{"windowsize": "1"}},
	{name: "windowsize 4", file: "big.bin", opts: []string{"windowsize", "4"},
		wantOACK: map[string]string{"windowsize": "4"}},
	{name: "windowsize 8 blksize 1468", file: "big.bin", opts: []string{"windowsize", "8", "blksize", "1468"},
		wantOACK: map[string]string{"windowsize": "8", "blksize": "1468"}, wantBlock: 1468},
	{name: "windowsize capped to MaxWindowSize", file: "big.bin", opts: []string{"windowsize", "65535"},
		wantOACK: map[string]string{"windowsize": "64"}},
	{name: "windowsize with exact multiple", file: "64x8", opts: []string{"windowsize", "4", "blksize", "8"},
		wantOACK: map[string]string{"windowsize": "4", "blksize": "8"}, wantBlock: 8},
	{name: "all options, upper case names", file: "big.bin",
		opts:      []string{"BLKSIZE", "1400", "TSize", "0", "timeout", "2", "windowsize", "16", "multicast", ""},
		wantOACK:  map[string]string{"blksize": "1400", "tsize": "100000", "timeout": "2", "windowsize": "16"},
		wantBlock: 1400},
	{name: "unknown option only", file: "small.txt", opts: []string{"utimeout", "5000"}},
	{name: "repeated option first wins", file: "big.bin", opts: []string{"blksize", "1000", "blksize", "600"},
		wantOACK: map[string]string{"blksize": "1000"}, wantBlock: 1000},
	{name: "netascii converts line ends", file: "lines.txt", mode: "netascii",
		want: []byte("a\r\nb\r\x00\r\nc\r\x00")},
	{name: "netascii has no tsize", file: "lines.txt", mode: "netascii", opts: []string{"tsize", "0"},
		want: []byte("a\r\nb\r\x00\r\nc\r\x00")},
	{name: "netascii windowed", file: "lines.txt", mode: "netascii", opts: []string{"windowsize", "3", "blksize", "8"},
		want:     []byte("a\r\nb\r\x00\r\nc\r\x00"),
		wantOACK: map[string]string{"windowsize": "3", "blksize": "8"}, wantBlock: 8},
}

func TestTransfer(t *testing.T) {
	files := transferFiles
	for _, tt := range transferCases {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Root: files, MaxBlockSize: tt.maxBlock})
			c := newClient(t, ts.addr)
			res := c.get(tt.file, getOptions{mode: tt.mode, opts: tt.opts})
			want := tt.want
			if want == nil {
				want = files[tt.file].Data
			}
			if !bytes.Equal(res.data, want) {
				t.Errorf("got %d bytes, want %d (%q vs %q)", len(res.data), len(want), head(res.data), head(want))
			}
			if !maps.Equal(res.oack, tt.wantOACK) || (res.oack == nil) != (tt.wantOACK == nil) {
				t.Errorf("OACK %v, want %v", res.oack, tt.wantOACK)
			}
			blockSize := cmp(tt.wantBlock, 512)
			if wantBlocks := len(want)/blockSize + 1; len(res.wire) != wantBlocks {
				t.Errorf("got %d DATA packets, want %d", len(res.wire), wantBlocks)
			}
			tr := ts.transfer(t)
			if tr.Err != nil || tr.Size != int64(len(want)) || tr.BlockSize != blockSize || tr.Client != c.addr() {
				t.Errorf("reported %+v, want no error, size %d, blksize %d, client %v", tr, len(want), blockSize, c.addr())
			}
			if st := ts.srv.Stats(); st.Transfers != 1 || st.Requests != 1 || st.Bytes != int64(len(want)) || st.Failed != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 32)] }

// cmp returns v, or def if v is zero.
func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// TestRollover sends more than 65535 blocks: block numbers must wrap to 0.
func TestRollover(t *testing.T) {
	data := pattern(65535*8 + 8*100 + 3)
	for _, window := range []int{1, 64} {
		t.Run("window "+strconv.Itoa(window), func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, &Server{Root: fstest.MapFS{"big": {Data: data}}})
			c := newClient(t, ts.addr)
			res := c.get("big", getOptions{opts: []string{"blksize", "8", "windowsize", strconv.Itoa(window)}})
			if !bytes.Equal(res.data, data) {
				t.Fatalf("got %d bytes, want %d", len(res.data), len(data))
			}
			i := bytes.Index(wireBytes(res.wire), wireBytes([]uint16{65534, 65535, 0, 1}))
			if i < 0 {
				t.Error("block numbers did not go 65534, 65535, 0, 1")
			}
			if tr := ts.transfer(t); tr.Err != nil || tr.Size != int64(len(data)) {
				t.Errorf("reported %+v", tr)
			}
		})
	}
}

func wireBytes(w []uint16) []byte {
	var b []byte
	for _, n := range w {
		b = append(b, byte(n>>8), byte(n))
	}
	return b
}

// TestLoss drops DATA and ACK packets; the server's retransmit timeout must
// recover. The timeout is short so that the test is quick; its length
// changes only how many duplicates arrive, never the outcome.
func TestLoss(t *testing.T) {
	data := pattern(40 * 512)
	firstTime := func(blocks ...int64) func(int64, int) bool {
		return func(k int64, seen int) bool { return seen == 1 && slices.Contains(blocks, k) }
	}
	tests := []struct {
		name   string
		opts   []string
		o      getOptions
		resent int64 // a block that must arrive twice (0: the OACK)
	}{
		{name: "lost DATA, lockstep", o: getOptions{dropData: firstTime(3)}, resent: 3},
		{name: "lost last DATA", o: getOptions{dropData: firstTime(41)}, resent: 41},
		{name: "lost ACK, lockstep", o: getOptions{dropAck: firstTime(5)}, resent: 5},
		{name: "lost DATA mid-window", opts: []string{"windowsize", "4"}, o: getOptions{dropData: firstTime(6)}, resent: 6},
		{name: "lost first of window", opts: []string{"windowsize", "4"}, o: getOptions{dropData: firstTime(5)}, resent: 5},
		{name: "lost window ACK", opts: []string{"windowsize", "8"}, o: getOptions{dropAck: firstTime(8)}, resent: 8},
		{name: "lost OACK ACK", opts: []string{"windowsize", "8"}, o: getOptions{dropAck: firstTime(0)}, resent: 0}, // count[0]: OACKs
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: data}}, Timeout: 20 * time.Millisecond, Retries: 1000})
			c := newClient(t, ts.addr)
			tt.o.opts = tt.opts
			res := c.get("f", tt.o)
			if !bytes.Equal(res.data, data) {
				t.Fatalf("got %d bytes, want %d", len(res.data), len(data))
			}
			if res.count[tt.resent] < 2 {
				t.Errorf("block %d arrived %d times, want it resent", tt.resent, res.count[tt.resent])
			}
			if tr := ts.transfer(t); tr.Err != nil {
				t.Errorf("transfer failed: %v", tr.Err)
			}
		})
	}
}
