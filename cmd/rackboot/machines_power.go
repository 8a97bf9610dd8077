package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/api"
	"rackboot/internal/bmc"
	"rackboot/internal/events"
	"rackboot/internal/machines"
	"rackboot/internal/progress"
	"rackboot/internal/textview"
)

// machinesPowerCommands are `machines bmc`, `machines power` and
// `machines boot`: the machines' BMCs, through the running server (which
// holds the passwords and speaks to the BMCs).
func machinesPowerCommands(f *clientFlags) []*cobra.Command {
	return []*cobra.Command{machinesBMCCommand(f), machinesPowerCommand(f), machinesBootCommand(f)}
}

func machinesBMCCommand(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bmc",
		Short: "Set or show how rackboot reaches a machine's BMC (IPMI v2.0 lanplus)",
		Long: `bmc keeps, per machine, the address of its BMC and the user and password
rackboot logs in with (machines.rules may give the user and password by
label or MAC prefix: see rackboot serve --help). The password is stored on
the server (in its store, a 0600 file or etcd) and is never shown again:
not by the API, not by this command, not in logs.`,
		Example: `  rackboot machines bmc set 52:54:00:12:34:56 --address 10.0.1.7 --user ADMIN --password-file ~/.bmc-pass
  rackboot machines bmc show 52:54:00:12:34:56
  rackboot machines bmc rm 52:54:00:12:34:56`,
	}
	var (
		address, user, pwFile, iface string
	)
	set := &cobra.Command{
		Use:   "set MAC",
		Short: "Set a machine's BMC address, user and password (only what the flags name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p bmc.Patch
			fl := cmd.Flags()
			if fl.Changed("address") {
				p.Address = &address
			}
			if fl.Changed("user") {
				p.User = &user
			}
			if fl.Changed("interface") {
				i := bmc.Interface(iface)
				p.Interface = &i
			}
			if fl.Changed("password-file") {
				pw, err := readPasswordFile(pwFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				p.Password = &pw
			}
			if p == (bmc.Patch{}) {
				return errors.New("say what to set: --address, --user, --password-file or --interface")
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := c.SetMachineBMC(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return showBMC(cmd.OutOrStdout(), f, v)
		},
	}
	set.Flags().StringVar(&address, "address", "", "the BMC's host name or IP address, optionally :port (623)")
	set.Flags().StringVar(&user, "user", "", "the BMC user rackboot logs in as (operator rights are enough)")
	set.Flags().StringVar(&pwFile, "password-file", "", "a file holding the BMC password (- reads standard input); never on the command line")
	set.Flags().StringVar(&iface, "interface", "", "how to speak to it: lanplus (IPMI v2.0, the default)")
	show := &cobra.Command{
		Use:   "show MAC",
		Short: "Show a machine's BMC settings (never the password: only whether one is set)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := c.MachineBMC(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return showBMC(cmd.OutOrStdout(), f, v)
		},
	}
	rm := &cobra.Command{
		Use:   "rm MAC",
		Short: "Forget a machine's own BMC settings (its rules' defaults still apply)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.DeleteMachineBMC(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "rackboot: %s: BMC settings forgotten\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(set, show, rm)
	return cmd
}

// readPasswordFile reads a password from a file ("-": standard input):
// its first line.
func readPasswordFile(path string, stdin io.Reader) (string, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimRight(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("--password-file %s: the file is empty", path)
	}
	return pw, nil
}

func showBMC(w io.Writer, f *clientFlags, v api.BMCView) error {
	if f.json() {
		return writeJSON(w, v)
	}
	textview.BMC(w, v)
	return nil
}

// showBMCLine adds the machine's BMC to `machines show` when the client
// may read it (the token) and there is one.
func showBMCLine(ctx context.Context, w io.Writer, c *api.Client, mac string) {
	v, err := c.MachineBMC(ctx, mac)
	if err != nil || v.Address == "" {
		return
	}
	fmt.Fprintf(w, "\n%s\n", textview.BMCLine(v))
}

func machinesPowerCommand(f *clientFlags) *cobra.Command {
	var parallel int
	cmd := &cobra.Command{
		Use:   "power status|on|off|cycle|reset MAC...",
		Short: "Power machines on, off, through a cycle or a reset, or read their power state, through their BMCs",
		Long: `power asks the running rackboot to run one power action on each machine's
BMC (set with rackboot machines bmc set), at most --parallel at once, and
prints one line per machine as it finishes, with a clear reason when it
fails: wrong user or password, no answer, not supported by the BMC.

  status  read the power state
  on      power on (nothing if on)
  off     hard power off (nothing if off)
  cycle   off then on; a machine that is off is powered on
  reset   hard reset; refused for a machine that is off

Exit status 1 when any machine failed.`,
		Example: `  rackboot machines power status 52:54:00:12:34:56
  rackboot machines power cycle 52:54:00:12:34:56 52:54:00:12:34:57 --parallel 8`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := bmc.ParseAction(args[0])
			if err != nil {
				return err
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			results := forEachMachine(cmd.Context(), args[1:], parallel, cmd.ErrOrStderr(), "power "+string(a),
				func(ctx context.Context, mac string) bmc.Result {
					r, _ := c.Power(ctx, mac, a)
					return r
				}, func(r bmc.Result) {
					if !f.json() {
						fmt.Fprintln(cmd.OutOrStdout(), resultLine(r))
					}
				})
			if f.json() {
				if err := writeJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			}
			return failedCount(results)
		},
	}
	cmd.Flags().IntVar(&parallel, "parallel", 16, "machines worked on at once")
	return cmd
}

// resultLine is one machine's result in words.
func resultLine(r bmc.Result) string {
	if !r.OK() {
		return fmt.Sprintf("%s  failed: %s", r.MAC, r.Error)
	}
	s := fmt.Sprintf("%s  %s", r.MAC, r.Done)
	if r.Action != bmc.Status && r.Power != "" {
		s += fmt.Sprintf(" (was %s)", r.Power)
	}
	for _, w := range r.Warnings {
		s += "\n  warning: " + w
	}
	return s
}

func failedCount(results []bmc.Result) error {
	n := 0
	for _, r := range results {
		if !r.OK() {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d of %d machines failed", n, len(results))
	}
	return nil
}

// forEachMachine runs fn for every MAC, at most parallel at once, calls
// done with each result as it comes, and keeps a progress line on a
// terminal ("power cycle: 5/12 done, 1 failed"). Results are in the
// order of macs.
func forEachMachine(ctx context.Context, macs []string, parallel int, stderr io.Writer, what string,
	fn func(ctx context.Context, mac string) bmc.Result, done func(bmc.Result)) []bmc.Result {
	parallel = max(parallel, 1)
	results := make([]bmc.Result, len(macs))
	var (
		mu       sync.Mutex
		finished int
		failed   int
		wg       sync.WaitGroup
		sem      = make(chan struct{}, parallel)
	)
	f, _ := stderr.(*os.File)
	tty := f != nil && progress.IsTerminal(f) && len(macs) > 1
	line := func() {
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s: %d/%d done, %d failed", what, finished, len(macs), failed)
		}
	}
	line()
	for i, mac := range macs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if canon, err := machines.CanonicalMAC(mac); err == nil {
				mac = canon
			}
			r := fn(ctx, mac)
			if r.MAC == "" {
				r.MAC = mac
			}
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			finished++
			if !r.OK() {
				failed++
			}
			if tty {
				fmt.Fprint(stderr, "\r\033[K")
			}
			done(r)
			line()
		}()
	}
	wg.Wait()
	if tty {
		fmt.Fprintln(stderr)
	}
	return results
}

// bootFlags are the flags of `machines boot`.
type bootFlags struct {
	item              string
	now, noFollow     bool
	requireBootDevice bool
	until             string
	timeout           time.Duration
	parallel          int
}

func machinesBootCommand(f *clientFlags) *cobra.Command {
	var bf bootFlags
	cmd := &cobra.Command{
		Use:   "boot MAC... --item ITEM [--now]",
		Short: "Boot machines into ITEM once (rescue, reinstall); with --now, power-cycle them and follow the boot",
		Long: `boot sets each machine's boot-once to ITEM (as machines boot-once does).
With --now it then, through each machine's BMC:
  1. sets the next boot's device to PXE (IPMI boot flags, with the EFI bit
     when the machine last booted with UEFI firmware). A BMC that refuses
     it (OpenIPMI's ipmi_sim does; some BMCs refuse the EFI bit) gets a
     warning and the machine is powered on anyway: firmware that boots the
     network first (a SmartOS compute node) still boots rackboot's menu.
     --require-boot-device makes the refusal an error instead.
  2. power-cycles it, or powers it on when it is off,
  3. follows its boot on the timeline until the kernel is loaded (or, with
     --until os-up, until its OS is seen up: its own DHCP, or its call to
     /api/v1/machines/MAC/booted), and says the stage a boot stopped at
     when it fails or --timeout passes.
The boot after that one boots the machine's default again.

Exit status 1 when any machine failed.`,
		Example: `  rackboot machines boot 52:54:00:12:34:56 --item smartos-noimport --now
  rackboot machines boot 52:54:00:12:34:56 52:54:00:12:34:57 --item memtest --now --until os-up`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return machinesBoot(cmd, f, bf, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&bf.item, "item", "", "what the next boot boots: smartos-noimport, smartos-<build>, memtest, noimport, ... (required)")
	fl.BoolVar(&bf.now, "now", false, "boot it now: PXE boot device, power cycle (or on), follow the boot")
	fl.BoolVar(&bf.requireBootDevice, "require-boot-device", false, "fail when the BMC refuses the PXE boot device (default: warn and power on)")
	fl.BoolVar(&bf.noFollow, "no-follow", false, "with --now: do not wait for the boot")
	fl.StringVar(&bf.until, "until", "kernel", "with --now: follow until the kernel is loaded (kernel) or the OS is up (os-up)")
	fl.DurationVar(&bf.timeout, "timeout", 15*time.Minute, "with --now: how long to follow the boots")
	fl.IntVar(&bf.parallel, "parallel", 16, "machines worked on at once")
	cmd.MarkFlagRequired("item")
	return cmd
}

func machinesBoot(cmd *cobra.Command, f *clientFlags, bf bootFlags, macs []string) error {
	if bf.until != "kernel" && bf.until != "os-up" {
		return fmt.Errorf("--until %q: want kernel or os-up", bf.until)
	}
	c, err := f.client(cmd.Context())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	afters := map[string]uint64{}
	var mu sync.Mutex
	what := "boot-once"
	if bf.now {
		what = "boot now"
	}
	results := forEachMachine(cmd.Context(), macs, bf.parallel, cmd.ErrOrStderr(), what,
		func(ctx context.Context, mac string) bmc.Result {
			resp, err := c.Boot(ctx, mac, api.BootRequest{Item: bf.item, Now: bf.now, RequireBootDevice: bf.requireBootDevice})
			if resp.Power != nil {
				mu.Lock()
				afters[mac] = resp.After
				mu.Unlock()
				return *resp.Power
			}
			if err != nil {
				return bmc.Result{MAC: mac, Error: err.Error(), Kind: bmc.KindFailed}
			}
			return bmc.Result{MAC: mac, Done: fmt.Sprintf("its next boot boots %s", bf.item)}
		}, func(r bmc.Result) {
			if !f.json() {
				fmt.Fprintln(out, resultLine(r))
			}
		})
	if !bf.now || bf.noFollow {
		if f.json() {
			writeJSON(out, results)
		}
		return failedCount(results)
	}
	var follow []string
	for _, r := range results {
		if r.OK() {
			follow = append(follow, r.MAC)
		}
	}
	ends := followBoots(cmd.Context(), c, follow, afters, bf, out, f.json())
	if f.json() {
		writeJSON(out, struct {
			Power []bmc.Result `json:"power"`
			Boots []bootEnd    `json:"boots"`
		}{results, ends})
	}
	failed := 0
	for _, r := range results {
		if !r.OK() {
			failed++
		}
	}
	for _, e := range ends {
		if !e.OK {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d machines did not boot %s", failed, len(macs), bf.item)
	}
	return nil
}

// bootEnd is how one followed boot ended.
type bootEnd struct {
	MAC    string `json:"mac"`
	OK     bool   `json:"ok"`
	Stage  string `json:"stage"`            // the furthest stage reached
	Result string `json:"result,omitempty"` // booted kernel, OS up, abandoned; empty on timeout
	Msg    string `json:"msg"`
}

// followBoots follows the machines' boots on the server's event stream
// until each reached the kernel (or OS up), failed, or the timeout passed.
func followBoots(ctx context.Context, c *api.Client, macs []string, afters map[string]uint64, bf bootFlags, out io.Writer, quiet bool) []bootEnd {
	if len(macs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, bf.timeout)
	defer cancel()
	after := ^uint64(0)
	want := map[string]bool{}
	for _, m := range macs {
		want[m] = true
		after = min(after, afters[m])
	}
	stage := map[string]events.Stage{}
	boot := map[string]int{} // the boot number our power-on began
	ended := map[string]bootEnd{}
	say := func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(out, format+"\n", args...)
		}
	}
	handle := func(ev events.Event) {
		after = max(after, ev.Seq)
		if !want[ev.MAC] || ev.Seq <= afters[ev.MAC] || ev.Type == events.TypeProgress {
			return
		}
		if _, done := ended[ev.MAC]; done {
			return
		}
		// The boot to follow is the one our power-on began: the
		// abandoning of the one before it is not its end.
		if ev.Type == events.TypePower && boot[ev.MAC] == 0 {
			boot[ev.MAC] = ev.Boot
		}
		if boot[ev.MAC] == 0 || ev.Boot != boot[ev.MAC] {
			return
		}
		if ev.Stage != events.StageNone {
			stage[ev.MAC] = ev.Stage
		}
		say("%s  %s  %s", ev.MAC, ev.Time.Format("15:04:05"), ev.Msg)
		if e, ok := bootEnded(ev, bf.until); ok {
			ended[ev.MAC] = e
			if e.OK {
				say("%s  done: %s", ev.MAC, e.Msg)
			} else {
				say("%s  failed: %s", ev.MAC, e.Msg)
			}
			if len(ended) == len(macs) {
				cancel()
			}
		}
	}
	// The stream replays what came after a number, not from the start: a
	// server whose first events these are (after 0) is read first.
	if after == 0 {
		evs, err := c.Events(ctx, "", 0, 0)
		if err != nil {
			say("rackboot: events: %v", err)
		}
		for _, ev := range evs {
			handle(ev)
		}
	}
	for len(ended) < len(macs) && ctx.Err() == nil {
		err := c.FollowEvents(ctx, "", after, handle, nil)
		if err != nil && ctx.Err() == nil && !errors.Is(err, api.ErrEventStreamEnded) {
			say("rackboot: event stream: %v (following again)", err)
			time.Sleep(time.Second)
		}
	}
	var list []bootEnd
	for _, m := range macs {
		e, ok := ended[m]
		if !ok {
			st := stage[m]
			e = bootEnd{MAC: m, Stage: string(st), Msg: fmt.Sprintf("no end in %s: the boot stopped at %s", bf.timeout, stageWords(st))}
			say("%s  failed: %s", m, e.Msg)
		}
		list = append(list, e)
	}
	return list
}

// bootEnded says whether ev ends a followed boot, and how.
func bootEnded(ev events.Event, until string) (bootEnd, bool) {
	e := bootEnd{MAC: ev.MAC, Stage: string(ev.Stage)}
	switch ev.Type {
	case events.TypeBooted:
		if until == "kernel" {
			e.OK, e.Result, e.Msg = true, "booted kernel", "the kernel is loaded"
			return e, true
		}
	case events.TypeUp:
		e.OK, e.Result, e.Msg = true, "OS up", ev.Msg
		return e, true
	case events.TypeSilent:
		e.Result, e.Msg = "OS silent", ev.Msg
		return e, true
	case events.TypeAbandon:
		e.Result, e.Msg = "abandoned", ev.Msg
		return e, true
	}
	return e, false
}

func stageWords(st events.Stage) string {
	if st == events.StageNone {
		return "power on: nothing was seen on the network (check the machine's console and its boot order)"
	}
	return st.Label()
}
