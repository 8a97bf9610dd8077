package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/api"
	"rackboot/internal/events"
	"rackboot/internal/machines"
	"rackboot/internal/textview"
)

func eventsCommand() *cobra.Command {
	var (
		f      clientFlags
		follow bool
		mac    string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show boot events (DHCP, TFTP, menu, kernel, archive, booted), or follow them live",
		Long: `events prints the recent boot events of every machine (or of one, with
--mac), one line each: time, MAC, boot number, stage, what happened. With
--follow it then prints new events as they happen, until interrupted; if
the server restarts it reconnects. --output json prints one JSON object
per line.`,
		Example: `  rackboot events --follow
  rackboot events --mac 52:54:00:12:34:56 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			if mac != "" {
				if mac, err = machines.CanonicalMAC(mac); err != nil {
					return fmt.Errorf("--mac: %w", err)
				}
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			print := func(ev events.Event) {
				if f.json() {
					b, _ := jsonLine(ev)
					out.Write(b)
					return
				}
				fmt.Fprintln(out, textview.Event(ev, mac == ""))
			}
			recent, err := c.Events(ctx, mac, 0, limit)
			if err != nil {
				return err
			}
			var last uint64
			for _, ev := range recent {
				print(ev)
				last = ev.Seq
			}
			if !follow {
				return nil
			}
			return followEvents(cmd, c, mac, last, print)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events as they happen")
	cmd.Flags().StringVar(&mac, "mac", "", "only this machine's events")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many recent events to print first")
	return cmd
}

// followEvents prints new events as they happen, from after last, until
// ctx ends; a server that restarts or goes away is waited for and
// followed again.
func followEvents(cmd *cobra.Command, c *api.Client, mac string, last uint64, print func(events.Event)) error {
	ctx := cmd.Context()
	lagged := func(n uint64) {
		fmt.Fprintf(cmd.ErrOrStderr(), "rackboot: %d events were dropped (this terminal reads too slowly)\n", n)
	}
	for {
		err := c.FollowEvents(ctx, mac, last, func(ev events.Event) {
			print(ev)
			if ev.Type != events.TypeProgress {
				last = ev.Seq
			}
		}, lagged)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, api.ErrEventStreamEnded) && !isUnreachable(err) {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "rackboot: %v; reconnecting\n", err)
		last = 0 // a restarted server numbers its events from 1 again: follow live
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}
