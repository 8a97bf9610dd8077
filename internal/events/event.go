// Package events is rackboot's boot timeline: every step a machine takes
// (DHCP, iPXE over TFTP, iPXE's own DHCP, the menu, kernel and boot archive
// over HTTP, the OS calling back) becomes an Event, and a Log turns the
// events of one machine into its current Boot: which stage it is in, how far
// its download is, how long each stage took.
//
// The Log lives in memory, keeps a bounded history per machine, and fans
// events out to subscribers (the API's live stream, the machine registry's
// writer) without ever blocking the protocol code that publishes them. It
// knows no protocol and no store: callers translate their own events into
// this package's.
package events

import (
	"time"
)

// Stage is a step of a network boot, in the order a machine goes through
// them. A machine need not pass every stage: QEMU's BIOS NIC ROM is iPXE
// already, so its first stage is ipxe-dhcp.
type Stage string

const (
	StageNone         Stage = ""
	StagePowerOn      Stage = "power-on"      // rackboot powered it on (or cycled or reset it) through its BMC
	StageDHCP         Stage = "dhcp"          // the firmware's PXE ROM asks DHCP
	StageNBP          Stage = "nbp"           // it fetches iPXE over TFTP
	StageIPXEDHCP     Stage = "ipxe-dhcp"     // iPXE asks DHCP again
	StageMenu         Stage = "menu"          // iPXE fetched its menu
	StageKernel       Stage = "kernel"        // the kernel was fetched
	StageArchive      Stage = "archive"       // the boot archive (and its hash) were fetched
	StageBootedKernel Stage = "booted-kernel" // every file of the item is in: iPXE started the kernel
	StageUp           Stage = "up"            // the OS is up: it called back, or its own DHCP was seen
)

// Stages lists the stages in boot order.
var Stages = []Stage{StagePowerOn, StageDHCP, StageNBP, StageIPXEDHCP, StageMenu, StageKernel, StageArchive, StageBootedKernel, StageUp}

// Index is the stage's place in Stages; -1 for StageNone or unknown.
func (s Stage) Index() int {
	for i, st := range Stages {
		if st == s {
			return i
		}
	}
	return -1
}

// Label is the stage in words, as the dashboard and CLI show it.
func (s Stage) Label() string {
	switch s {
	case StagePowerOn:
		return "power on"
	case StageDHCP:
		return "PXE DHCP"
	case StageNBP:
		return "iPXE over TFTP"
	case StageIPXEDHCP:
		return "iPXE DHCP"
	case StageMenu:
		return "menu"
	case StageKernel:
		return "kernel"
	case StageArchive:
		return "boot archive"
	case StageBootedKernel:
		return "booted kernel"
	case StageUp:
		return "OS up"
	}
	return string(s)
}

// Type says where an event comes from.
type Type string

const (
	TypeDHCP     Type = "dhcp"      // a DHCP packet from the machine, and what we did with it
	TypeTFTP     Type = "tftp"      // a TFTP transfer ended
	TypeMenu     Type = "menu"      // the menu was served
	TypeHTTP     Type = "http"      // an HTTP file download ended
	TypeProgress Type = "progress"  // an HTTP download is under way (live only; coalesced in history)
	TypeBooted   Type = "booted"    // derived: every file the kernel needs was fetched
	TypeUp       Type = "up"        // the OS is up: it called back, or its own DHCP was seen (Via)
	TypePower    Type = "power"     // rackboot powered the machine on, cycled or reset it: a boot begins
	TypeSilent   Type = "os-silent" // the kernel started long ago and the OS was never seen
	TypeAbandon  Type = "abandoned" // derived: a new boot began before this one finished
)

// File kinds, for Event.Kind.
const (
	KindNBP     = "nbp"     // an iPXE build (or the chain script sent instead)
	KindMenu    = "menu"    // the generated iPXE menu
	KindKernel  = "kernel"  // a kernel: SmartOS unix, memtest86+
	KindArchive = "archive" // boot_archive
	KindHash    = "hash"    // boot_archive.hash
	KindOther   = "other"
)

// Event is one step of one machine. Seq, Stage and Boot are set by the Log;
// everything else by the publisher. Fields that do not apply stay empty.
type Event struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	MAC   string    `json:"mac"` // canonical: "52:54:00:12:34:56"
	Type  Type      `json:"type"`
	Stage Stage     `json:"stage,omitempty"` // the stage this event is part of
	Boot  int       `json:"boot,omitempty"`  // which boot of this machine since rackboot started (1, 2, ...)
	Msg   string    `json:"msg"`             // one line for people
	IP    string    `json:"ip,omitempty"`
	Arch  string    `json:"arch,omitempty"`

	// DHCP
	DHCPType string `json:"dhcp_type,omitempty"` // DISCOVER, REQUEST, ...
	Outcome  string `json:"outcome,omitempty"`   // answered, ignored, ...
	IPXE     bool   `json:"ipxe,omitempty"`
	// IPXEFeatures are the feature flags iPXE's option 175 advertised,
	// as pxe.Features.String writes them ("http,https,efi,multiboot2").
	IPXEFeatures string `json:"ipxe_features,omitempty"`
	BootFile     string `json:"boot_file,omitempty"`
	UUID         string `json:"uuid,omitempty"`
	VendorClass  string `json:"vendor_class,omitempty"`

	// Files (TFTP, HTTP, progress)
	File       string  `json:"file,omitempty"`
	Kind       string  `json:"kind,omitempty"`
	Bytes      int64   `json:"bytes,omitempty"`
	Total      int64   `json:"total,omitempty"` // the file's size, when known
	BlockSize  int     `json:"blksize,omitempty"`
	WindowSize int     `json:"windowsize,omitempty"`
	Status     int     `json:"status,omitempty"` // HTTP status
	DurationMS float64 `json:"duration_ms,omitempty"`
	Err        string  `json:"error,omitempty"`

	// Menu
	Item     string `json:"item,omitempty"`      // the menu's default item
	BootOnce bool   `json:"boot_once,omitempty"` // the item came from a boot-once setting, now consumed
	SkipMenu bool   `json:"skip_menu,omitempty"`

	// Needs lists, on a kernel event, the other files the kernel cannot
	// start without (its boot archive and hash): when they have all been
	// fetched, the Log derives a "booted" event. nil means none.
	Needs []string `json:"-"`

	// Via says how the OS was seen up: "callback" (it called the API) or
	// "dhcp" (its own DHCP, neither a PXE ROM's nor iPXE's).
	Via string `json:"via,omitempty"`
	// UpAfterMS is, on an up event, the time from power-on (when rackboot
	// powered the machine on) or else from the boot's first event.
	UpAfterMS float64 `json:"up_after_ms,omitempty"`

	// Summary is set on the events that end a boot (booted, up, abandoned).
	Summary *Boot `json:"summary,omitempty"`

	// Server names the server that observed this step when it was another
	// one sharing this server's store (the shared timeline,
	// internal/timeline); empty for this server's own steps. Events it
	// derives (booted, abandoned) carry the name of the event that caused
	// them.
	Server string `json:"server,omitempty"`
}

// Remote reports whether another server observed the event.
func (e Event) Remote() bool { return e.Server != "" }

// Failed reports whether the event records a failure.
func (e Event) Failed() bool { return e.Err != "" }

// Duration is DurationMS as a time.Duration.
func (e Event) Duration() time.Duration {
	return time.Duration(e.DurationMS * float64(time.Millisecond))
}

// Millis turns a duration into an Event's DurationMS.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
