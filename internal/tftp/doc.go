// Package tftp is a read-only TFTP server over an [fs.FS]: RFC 1350, with option
// negotiation (RFC 2347), blksize (RFC 2348), timeout and tsize (RFC 2349) and
// windowsize (RFC 7440). It is what PXE firmware uses to fetch iPXE.
//
// Each read request is served from its own UDP socket (a new transfer ID),
// bound to the local address the request arrived on, in its own goroutine.
// Write requests are refused. Transfers are capped in total and per client
// address ([Server.MaxTransfers]); at a cap the oldest transfer whose client
// never answered is shed, so that a flood of requests holds bounded memory. File names are relative to [Server.Root]:
// absolute names and ".." elements are refused, and a Root made with
// os.OpenRoot(dir).FS() also refuses symlinks that leave dir.
//
// Why our own and not github.com/pin/tftp/v3: that library hands a handler a
// file name and an io.ReaderFrom, so per-client content (the iPXE
// chainload-loop breaker, [Server.Override]) and per-transfer results
// ([Server.OnTransfer]) have to be dug out of type assertions; it has no
// fs.FS root and no RFC 7440 windowsize. The protocol is small enough that
// owning it costs less than adapting around it, and lets us test the wire bytes.
package tftp
