// Package target is what a menu item boots: one interface, Target, and one
// table of the kinds of target there are (Kinds). A Linux kernel with its
// initrds, an ISO booted whole, a chain to another menu, an operator's iPXE
// script, a SmartOS platform and memtest86+ are all targets; the menu,
// the GRUB configuration of Secure Boot machines and the file server ask
// each target the same questions and never switch on its kind.
//
// A kind is registered once, in its own file (linux.go, iso.go, ...), with
// the YAML key that selects it under targets[] and the function that
// decodes it. Adding a kind is adding a file.
package target

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
)

// Client is what decides whether a target is offered: the firmware and
// processor, the features its iPXE advertised (DHCP option 175), and
// whether it boots with Secure Boot on (it then runs the distribution's
// signed shim and GRUB, never iPXE).
type Client struct {
	Arch       pxe.Arch
	Features   pxe.Features
	SecureBoot bool
}

// Loader builds the URLs a target's boot statements name: URL turns a
// served name (File.Name) into an absolute URL.
type Loader struct {
	BaseURL string // "http://10.0.0.1:8080"
}

// URL joins a served name to the base URL.
func (l Loader) URL(name string) string {
	return strings.TrimRight(l.BaseURL, "/") + "/" + strings.TrimPrefix(name, "/")
}

// File is one file a target boots, served to the boot network under Name
// (a path below the HTTP and TFTP roots) from Path on disk. Only the files
// targets name are served this way: the rest of the data directory stays
// unreachable (internal/bootfs).
type File struct {
	Name string // "targets/debian-installer/linux"
	Path string // "/var/lib/rackboot/os/debian-12/debian-installer/amd64/linux"
	// Role is RoleKernel or RoleInitrd for the files a boot's timeline
	// follows ("" for others): a kernel fetched in full with every initrd
	// of its target is a booted kernel.
	Role string
}

// File roles.
const (
	RoleKernel = "kernel"
	RoleInitrd = "initrd"
)

// Timeline is what a boot's timeline needs to know of the targets' files:
// by served name, its role and, for a kernel, the initrds it is started
// with.
type Timeline map[string]TimelineFile

// TimelineFile is one file of Timeline.
type TimelineFile struct {
	Role  string
	Needs []string // served names
}

// TimelineOf indexes the files of ts with a role.
func TimelineOf(ts []Target) Timeline {
	out := Timeline{}
	for _, t := range ts {
		var initrds []string
		for _, f := range t.Files() {
			if f.Role == RoleInitrd {
				initrds = append(initrds, f.Name)
			}
		}
		for _, f := range t.Files() {
			switch f.Role {
			case RoleKernel:
				out[f.Name] = TimelineFile{Role: RoleKernel, Needs: initrds}
			case RoleInitrd:
				out[f.Name] = TimelineFile{Role: RoleInitrd}
			}
		}
	}
	return out
}

// Target is one bootable thing: a menu item.
type Target interface {
	ID() string    // the item's id: an iPXE label, menu.default, a machine's default or boot-once
	Title() string // the item's text
	// Offered says whether c can boot the target; when not, the error
	// says why, in words for the menu and the log ("needs BIOS").
	Offered(c Client) error
	// IPXE is the statements under the item's label. They end in a boot,
	// a chain or an exit; any failure goes to the label "failed".
	IPXE(l Loader, c Client) []ipxe.Stmt
	// Files are what the target needs served.
	Files() []File
}

// GRUBTarget is a target the signed GRUB of a Secure Boot machine can
// boot: a Linux kernel signed by the distribution whose shim and GRUB
// rackboot serves. GRUB is the body of its menuentry, with files named by
// their served names below root (GRUB's "(tftp,server)" or
// "(http,server)").
type GRUBTarget interface {
	Target
	GRUB(root string) []string
}

// Kind is one kind of target: the key that selects it in a targets[] entry
// of the configuration, what it is, and how its YAML becomes a Target.
type Kind struct {
	Name string // the YAML key: linux, iso, chain, ipxe, memtest
	Doc  string // one line for the key reference
	// Firmware is what the kind boots on, for the key reference.
	Firmware string
	// Decode builds the target from its mapping; dataDir resolves
	// relative file names. nil for kinds made by rackboot itself
	// (smartos: one per platform in the catalog).
	Decode func(h Header, body *yaml.Node, dataDir string) (Target, error)
}

// Header is what every target has, whatever its kind.
type Header struct {
	ID    string
	Title string
}

// kinds is the one table of target kinds, filled by each kind's file.
var kinds = map[string]Kind{}

func register(k Kind) {
	if _, dup := kinds[k.Name]; dup {
		panic("target: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// Kinds lists the registered kinds by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// decodable names the kinds a targets[] entry may use, for messages.
func decodable() string {
	var names []string
	for _, k := range Kinds() {
		if k.Decode != nil {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, ", ")
}

// Spec is one targets[] entry as the configuration holds it: id and title,
// and the mapping under its kind's key, decoded by New.
type Spec struct {
	Header `yaml:",inline"`
	Kind   string
	Body   yaml.Node
}

// UnmarshalYAML reads id, title and exactly one kind's key.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a target is a mapping with id, title and one of %s", n.Line, decodable())
	}
	*s = Spec{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "id":
			s.ID = v.Value
		case "title":
			s.Title = v.Value
		default:
			kind, ok := kinds[k.Value]
			if !ok || kind.Decode == nil {
				return fmt.Errorf("line %d: unknown target key %q (want id, title and one of %s)", k.Line, k.Value, decodable())
			}
			if s.Kind != "" {
				return fmt.Errorf("line %d: target %q has both %s and %s: one kind per target", k.Line, s.ID, s.Kind, k.Value)
			}
			s.Kind, s.Body = k.Value, *v
		}
	}
	return nil
}

// MarshalYAML writes the spec back as it was read.
func (s Spec) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
	}
	add("id", &yaml.Node{Kind: yaml.ScalarNode, Value: s.ID})
	if s.Title != "" {
		add("title", &yaml.Node{Kind: yaml.ScalarNode, Value: s.Title, Style: yaml.DoubleQuotedStyle})
	}
	if s.Kind != "" {
		body := s.Body
		add(s.Kind, &body)
	}
	return m, nil
}

// idPattern: an id is an iPXE label and a GRUB menuentry id.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// reserved ids belong to the menu's own items.
var reserved = map[string]bool{"memtest": true, "shell": true, "reboot": true, "exit": true, "reload": true,
	"options": true, "start": true, "failed": true, "smartos": true, "smartos-noimport": true}

// New decodes one targets[] entry with its kind's Decode.
func New(s Spec, dataDir string) (Target, error) {
	if !idPattern.MatchString(s.ID) {
		return nil, fmt.Errorf("id %q: want letters, digits, '.', '_' and '-', starting with a letter or digit", s.ID)
	}
	if reserved[s.ID] || strings.HasPrefix(s.ID, "smartos-") || strings.HasPrefix(s.ID, "opt-") || s.ID[0] >= '0' && s.ID[0] <= '9' {
		return nil, fmt.Errorf("id %q is taken by the menu's own items (memtest, shell, reboot, exit, smartos-*, opt-*) or reads as a platform build: pick another", s.ID)
	}
	if s.Kind == "" {
		return nil, fmt.Errorf("target %s: say what it boots: one of %s", s.ID, decodable())
	}
	k := kinds[s.Kind]
	if s.Title == "" {
		s.Title = s.ID
	}
	if err := ipxe.New(ipxe.Item{Label: s.ID, Text: s.Title}).Validate(); err != nil {
		return nil, fmt.Errorf("target %s: title %q: %w", s.ID, s.Title, err)
	}
	body := s.Body
	t, err := k.Decode(s.Header, &body, dataDir)
	if err != nil {
		return nil, fmt.Errorf("target %s (%s): %w", s.ID, s.Kind, err)
	}
	return t, nil
}

// NewAll decodes every entry and refuses an id used twice.
func NewAll(specs []Spec, dataDir string) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for i, s := range specs {
		t, err := New(s, dataDir)
		if err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		if seen[t.ID()] {
			return nil, fmt.Errorf("targets[%d]: id %q is used twice", i, t.ID())
		}
		seen[t.ID()] = true
		out = append(out, t)
	}
	return out, nil
}

// decodeStrict decodes body into v, refusing keys v does not have.
func decodeStrict(body *yaml.Node, v any) error {
	b, err := yaml.Marshal(body)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
		return errors.New(strings.TrimSpace(unknownField.ReplaceAllString(msg, "unknown key $1")))
	}
	return nil
}

var unknownField = regexp.MustCompile(`line \d+: field (\S+) not found in type \S+`)

// secretNames are files at the top of the data directory that no target
// may name: rackboot's own state (see internal/bootfs).
var secretNames = map[string]bool{"api-token": true, "rackboot.db": true, "rackboot.db.pid": true, "serve.json": true}

// localFile resolves a target's file name: relative names are below
// dataDir, absolute ones are taken as they are. A relative name may not
// climb out of dataDir or name a hidden element; whatever the name, the
// file it leads to (links followed) may not be rackboot's own state
// (notState); the file must exist.
func localFile(name, dataDir string) (string, error) {
	if name == "" {
		return "", errors.New("a file name is missing")
	}
	p := name
	if !filepath.IsAbs(name) {
		clean := path.Clean(filepath.ToSlash(name))
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return "", fmt.Errorf("%q leads out of the data directory", name)
		}
		for _, e := range strings.Split(clean, "/") {
			if strings.HasPrefix(e, ".") {
				return "", fmt.Errorf("%q has a hidden path element (%s): such files are never served", name, e)
			}
		}
		if secretNames[clean] {
			return "", fmt.Errorf("%q is rackboot's own state, never served", name)
		}
		p = filepath.Join(dataDir, clean)
	}
	if !safeBase.MatchString(filepath.Base(p)) {
		return "", fmt.Errorf("%q: a file name of letters, digits and . _ + ~ - only (it goes on iPXE and GRUB command lines)", filepath.Base(p))
	}
	if err := regularFile(p); err != nil {
		return "", err
	}
	if err := notState(p, dataDir); err != nil {
		return "", err
	}
	return p, nil
}

// notState refuses p if, once its symbolic links are followed, it lies at
// the top of the data directory, where rackboot keeps its own state (the
// API token, the store and its pid file, serve.json: whatever their
// names), or below a hidden directory of it (partial downloads, import
// scratch). The checks on the name alone cannot see an absolute name or a
// link that leads there.
func notState(p, dataDir string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	top, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		top = filepath.Clean(dataDir) // no data directory yet: nothing of ours there
	}
	rel, err := filepath.Rel(top, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil // outside the data directory
	}
	rel = filepath.ToSlash(rel)
	if !strings.Contains(rel, "/") {
		return fmt.Errorf("%s is at the top of the data directory, beside rackboot's own state (API token, store): such files are never served; put it in a subdirectory (os/, public/)", p)
	}
	for _, e := range strings.Split(rel, "/") {
		if strings.HasPrefix(e, ".") {
			return fmt.Errorf("%s is under a hidden directory of the data directory (%s): such files are never served", p, e)
		}
	}
	return nil
}

// LocalFile resolves and checks a file the configuration names for the
// boot network as a target's files are (Secure Boot's shim and GRUB):
// relative names below dataDir, never rackboot's own state.
func LocalFile(name, dataDir string) (string, error) { return localFile(name, dataDir) }

// servedName is the name a target's file is served under: below
// targets/<id>/, by its base name, so the data directory's layout (and
// anything beside the file) stays out of reach.
func servedName(id, file string) string {
	return "targets/" + id + "/" + filepath.Base(file)
}

// safeBase is what a served file's name may look like: it goes on iPXE
// and GRUB command lines unquoted.
var safeBase = regexp.MustCompile(`^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*$`)

// notFor is the error of a target not offered to a firmware.
type notFor string

func (n notFor) Error() string { return string(n) }

// errNotOffered builds the reason a client is not offered a target.
func errNotOffered(why string) error { return notFor(why) }
