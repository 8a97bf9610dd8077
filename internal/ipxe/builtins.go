package ipxe

import "strings"

// builtinSettings are settings that iPXE fills in by itself (from DHCP, the
// NIC, SMBIOS, the build, the clock) and that a script may read without
// setting them. Scoped names ("net0/mac", "smbios/...", "pci/...") are
// always treated as built in: their values live in settings blocks that the
// script cannot see. The list follows the iPXE settings reference
// (ipxe.org/cfg); a name missing here costs a false lint warning, not a boot.
var builtinSettings = setOf(
	// network device and DHCP
	"mac", "hwaddr", "bustype", "busloc", "busid", "chip", "ifname", "mtu", "linktype",
	"ip", "netmask", "gateway", "dns", "domain", "hostname", "filename", "next-server",
	"root-path", "san-filename", "user-class", "vendor-class", "dhcp-server",
	"keep-san", "skip-san-boot", "syslog", "syslogs", "ntp", "initiator-iqn",
	"ip6", "len6", "gateway6", "dns6", "ssid", "password", "username",
	"reverse-username", "reverse-password", "priority", "scriptlet", "pxebs",
	// SMBIOS and the machine
	"uuid", "manufacturer", "product", "serial", "asset", "board-serial",
	"memsize", "cpuvendor", "cpumodel", "sysmac",
	// the iPXE build and its environment
	"platform", "buildarch", "version", "unixtime", "keymap", "console",
	"cert", "privkey", "trust", "crosscert", "http-origin",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// isBuiltin reports whether a setting name (already stripped of any ":type")
// needs no "set" in the script.
func isBuiltin(name string) bool {
	if strings.Contains(name, "/") || builtinSettings[name] {
		return true
	}
	// DHCP options may be read by number: ${12}, ${175.19}.
	return strings.Trim(name, "0123456789.") == "" && name != ""
}

// baseSettingName strips a ":type" suffix: "root_shadow:string" -> "root_shadow".
func baseSettingName(n string) string {
	name, _, _ := strings.Cut(n, ":")
	return name
}

// expansions returns the setting names that iPXE would expand in w, innermost
// first, the way expand_settings does: the last "${" before the first "}".
func expansions(w string) []string {
	var names []string
	for {
		end := strings.Index(w, "}")
		if end < 0 {
			return names
		}
		start := strings.LastIndex(w[:end], "${")
		if start < 0 {
			// A '}' with no "${" before it is text; look past it.
			w = w[:end] + "\x00" + w[end+1:]
			continue
		}
		names = append(names, w[start+2:end])
		// Stand-in value: keeps "net${i}/mac" recognisable as scoped.
		w = w[:start] + "X" + w[end+1:]
	}
}
