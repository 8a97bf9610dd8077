// Package config is rackboot's configuration: the YAML schema, its defaults
// and its validation. Every error names the key it is about, so that a typo in
// a file read at 3 a.m. is found at once rather than silently ignored.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"rackboot/internal/bootargs"
	"rackboot/internal/target"
)

// DHCP modes.
const (
	DHCPProxy = "proxy" // answer PXE clients beside the network's own DHCP server
	DHCPOff   = "off"   // answer nobody; still watch broadcasts to break chainload loops
)

// Config is the whole of rackboot's configuration. The zero value is not
// useful; start from Default and apply a file and flags on top.
type Config struct {
	Interface string   `yaml:"interface"`
	DataDir   string   `yaml:"data_dir"`
	HTTPAddr  string   `yaml:"http_addr"`
	TFTPAddr  string   `yaml:"tftp_addr"`
	Advertise string   `yaml:"advertise"` // IPv4 told to clients; default: the interface's first
	IPXEDir   string   `yaml:"ipxe_dir"`  // extra place to look for iPXE builds, searched first
	LogLevel  string   `yaml:"log_level"`
	DHCP      DHCP     `yaml:"dhcp"`
	Menu      Menu     `yaml:"menu"`
	SmartOS   SmartOS  `yaml:"smartos"`
	Memtest   Memtest  `yaml:"memtest"`
	Machines  Machines `yaml:"machines"` // machines.go
	API       API      `yaml:"api"`
	Store     Store    `yaml:"store"`  // store.go
	Server    Server   `yaml:"server"` // server.go
	TFTP      TFTP     `yaml:"tftp"`   // limits.go
	HTTP      HTTP     `yaml:"http"`   // limits.go
	IPv6      IPv6     `yaml:"ipv6"`   // ipv6.go
	BMC       BMC      `yaml:"bmc"`    // bmc.go
	// Targets are the boot targets beside SmartOS: Linux kernels,
	// installers, ISOs, chains, scripts (internal/target decodes and
	// checks them, when the menu is built at start).
	Targets []target.Spec `yaml:"targets"`
	// SecureBoot is the signed chain Secure Boot machines get
	// (secureboot.go).
	SecureBoot SecureBoot `yaml:"secure_boot"`

	// AdvertiseAddr is Advertise, parsed by Validate (invalid: not set).
	AdvertiseAddr netip.Addr `yaml:"-"`
}

// Menu configures the generated iPXE menu.
type Menu struct {
	Title   string   `yaml:"title"`
	Timeout Duration `yaml:"timeout"` // 0 boots the default at once; negative waits forever
	Default string   `yaml:"default"` // an item id; empty: the newest SmartOS build
}

// SmartOS configures how SmartOS platforms are booted.
type SmartOS struct {
	Console        string   `yaml:"console"`
	OSConsole      string   `yaml:"os_console"`    // os_console=, when it differs from console
	RootPassword   string   `yaml:"root_password"` // hashed at start into RootShadow
	RootShadow     string   `yaml:"root_shadow"`
	Standalone     bool     `yaml:"standalone"`      // standalone=true on every SmartOS item
	KernelDebugger string   `yaml:"kernel_debugger"` // off, load (-k) or boot (-kd)
	BootArgs       BootArgs `yaml:"boot_args"`
	Mirror         string   `yaml:"mirror"` // where "platform import latest" looks; "" is MNX's
}

// Memtest names memtest86+ images per firmware; empty disables the item.
type Memtest struct {
	BIOS string `yaml:"bios"`
	EFI  string `yaml:"efi"`
}

// Duration is a time.Duration written as Go writes it ("30s", "1m30s").
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 30s or 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// BootArgs is an ordered list of -B pairs, written in YAML as a mapping
// (`boot_args: {hostname: cn1}`) whose order is kept.
type BootArgs []bootargs.KV

func (b *BootArgs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: smartos.boot_args must be a mapping of -B names to values", n.Line)
	}
	*b = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		*b = append(*b, bootargs.KV{Key: n.Content[i].Value, Value: n.Content[i+1].Value})
	}
	return nil
}

// MarshalYAML writes the mapping UnmarshalYAML reads, in order
// (rackboot ipxe import writes boot_args).
func (b BootArgs) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range b {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv.Key},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv.Value})
	}
	return m, nil
}

// Default is the configuration with nothing set by the user.
func Default() Config {
	return Config{
		DataDir:  "/var/lib/rackboot",
		HTTPAddr: ":80",
		TFTPAddr: ":69",
		LogLevel: "info",
		DHCP:     DHCP{Mode: DHCPProxy},
		Menu:     Menu{Title: "rackboot", Timeout: Duration(30 * time.Second)},
		SmartOS:  SmartOS{Console: "text"},
		Memtest:  Memtest{BIOS: "/boot/memtest86+x64.bin", EFI: "/boot/memtest86+x64.efi"},
		API:      API{OpenReads: true},
		IPv6:     IPv6{RA: RAAuto},

		SecureBoot: DefaultSecureBoot(),
	}
}

// Load reads a YAML file over c. Unknown keys are errors.
func (c *Config) Load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if err := c.Decode(f); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Decode reads YAML from r over c.
func (c *Config) Decode(r io.Reader) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return cleanYAMLError(err)
	}
	return nil
}

// cleanYAMLError turns yaml.v3's "field foo not found in type config.Menu"
// into words a user can act on.
func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = unknownField.ReplaceAllString(msg, "unknown key $1 (see 'rackboot serve --help' for the keys)")
	return errors.New(strings.TrimSpace(msg))
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

var consoles = map[string]bool{"text": true, "ttya": true, "ttyb": true, "ttyc": true, "ttyd": true, "vga": true}

// Validate checks every value and names the key of the first bad one.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	for key, addr := range map[string]string{"http_addr": c.HTTPAddr, "tftp_addr": c.TFTPAddr} {
		if _, _, err := splitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %q: %v", key, addr, err)
		}
	}
	c.AdvertiseAddr = netip.Addr{}
	if c.Advertise != "" {
		ip, err := netip.ParseAddr(c.Advertise)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("advertise: %q is not an IPv4 address", c.Advertise)
		}
		c.AdvertiseAddr = ip
	}
	if err := c.DHCP.validate(); err != nil { // dhcp.go
		return err
	}
	if err := c.BMC.validate(); err != nil { // bmc.go
		return err
	}
	if err := c.Machines.validate(); err != nil { // machines.go
		return err
	}
	if err := c.TFTP.validate(); err != nil { // limits.go
		return err
	}
	if err := c.HTTP.validate(); err != nil { // limits.go
		return err
	}
	if err := c.IPv6.validate(); err != nil { // ipv6.go
		return err
	}
	if err := c.Store.validate(); err != nil { // store.go
		return err
	}
	if err := c.Server.validate(); err != nil { // server.go
		return err
	}
	if err := c.SecureBoot.validate(); err != nil { // secureboot.go
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q (want debug, info, warn or error)", c.LogLevel)
	}
	if c.Menu.Default != "" && !itemID.MatchString(c.Menu.Default) {
		return fmt.Errorf("menu.default: %q is not an item id (e.g. smartos, smartos-noimport, smartos-<build>, memtest, exit)", c.Menu.Default)
	}
	if !consoles[c.SmartOS.Console] {
		return fmt.Errorf("smartos.console: %q (want text, ttya, ttyb, ttyc, ttyd or vga)", c.SmartOS.Console)
	}
	if c.SmartOS.OSConsole != "" && !consoles[c.SmartOS.OSConsole] {
		return fmt.Errorf("smartos.os_console: %q (want text, ttya, ttyb, ttyc, ttyd or vga)", c.SmartOS.OSConsole)
	}
	switch c.SmartOS.KernelDebugger {
	case "", "off", "load", "boot":
	default:
		return fmt.Errorf("smartos.kernel_debugger: %q (want off, load for -k, or boot for -kd)", c.SmartOS.KernelDebugger)
	}
	if m := c.SmartOS.Mirror; m != "" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		return fmt.Errorf("smartos.mirror: %q is not an http:// or https:// URL", m)
	}
	if c.SmartOS.RootPassword != "" && c.SmartOS.RootShadow != "" {
		return errors.New("smartos: set root_password or root_shadow, not both")
	}
	if s := c.SmartOS.RootShadow; s != "" && !shadowHash.MatchString(s) {
		return fmt.Errorf("smartos.root_shadow: %q is not a crypt(3) hash like $5$salt$hash (or use root_password)", s)
	}
	for _, kv := range c.SmartOS.BootArgs {
		if !bootArgName.MatchString(kv.Key) {
			return fmt.Errorf("smartos.boot_args: %q is not a -B property name", kv.Key)
		}
		// Values are checked against the -B syntax where it is known:
		// smartos.BootArgs.Validate, called when the menu is set up.
	}
	return nil
}

var (
	itemID      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	bootArgName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_\-.]*$`)
	shadowHash  = regexp.MustCompile(`^\$(1|5|6)\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]+$`)
)

// splitHostPort accepts "host:port" and ":port".
func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", errors.New("want host:port or :port")
	}
	host, port := addr[:i], addr[i+1:]
	if port == "" {
		return "", "", errors.New("missing port")
	}
	if host != "" {
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil {
			return "", "", fmt.Errorf("%q is not an IP address", host)
		}
	}
	return host, port, nil
}

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
