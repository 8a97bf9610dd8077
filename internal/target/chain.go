package target

import (
	"fmt"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
)

func init() {
	register(Kind{Name: "chain", Firmware: "BIOS, UEFI",
		Doc:    "another menu or boot program at a URL, chained by iPXE: {url}",
		Decode: decodeChain})
}

// Chain hands the machine to another iPXE script or boot program at a
// URL: netboot.xyz, a Triton head node's menu, a lab's own server.
type Chain struct {
	Header
	URL string
}

type chainSpec struct {
	URL string `yaml:"url"`
}

func decodeChain(h Header, body *yaml.Node, _ string) (Target, error) {
	var s chainSpec
	if err := decodeStrict(body, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tftp") {
		return nil, fmt.Errorf("url %q: want an absolute http://, https:// or tftp:// URL", s.URL)
	}
	if strings.Contains(s.URL, "${") {
		// iPXE would expand it; the operator wrote a fixed URL.
		return nil, fmt.Errorf("url %q: ${...} would be expanded by iPXE", s.URL)
	}
	if err := ipxe.New(ipxe.Chain(s.URL)).Validate(); err != nil {
		return nil, fmt.Errorf("url %q: %w", s.URL, err)
	}
	return &Chain{Header: h, URL: s.URL}, nil
}

func (t *Chain) ID() string    { return t.Header.ID }
func (t *Chain) Title() string { return t.Header.Title }

func (t *Chain) Offered(c Client) error {
	if c.SecureBoot {
		return errNotOffered("needs iPXE, which Secure Boot refuses unless it is signed")
	}
	return nil
}

// IPXE: "chain --autofree": the images this menu loaded are freed first.
// No --replace: when the other script returns, the menu comes back.
func (t *Chain) IPXE(Loader, Client) []ipxe.Stmt {
	return append([]ipxe.Stmt{ipxe.Echo("Chaining to " + t.URL),
		ipxe.Command{Name: "chain", Args: []string{"--autofree", t.URL}, OnFail: "failed"}}, backToMenu...)
}

// backToMenu follows a chain that returned: the other script ran and
// exited, so someone may be at the console; the menu comes back without
// its countdown rather than booting the same default again, in a loop.
var backToMenu = []ipxe.Stmt{ipxe.Set{Name: "menu-timeout", Value: "0"}, ipxe.Goto("start")}

func (t *Chain) Files() []File { return nil }
