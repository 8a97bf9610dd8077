package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"rackboot/internal/events"
	"rackboot/internal/machines"
)

// Machines returns every machine the server knows.
func (c *Client) Machines(ctx context.Context) ([]MachineView, error) {
	var out []MachineView
	return out, c.Do(ctx, http.MethodGet, "/machines", nil, &out)
}

// Machine returns one machine.
func (c *Client) Machine(ctx context.Context, mac string) (MachineView, error) {
	var out MachineView
	return out, c.Do(ctx, http.MethodGet, "/machines/"+url.PathEscape(mac), nil, &out)
}

// PatchMachine changes a machine's settings (creating its entry if new).
func (c *Client) PatchMachine(ctx context.Context, mac string, p machines.Patch) (MachineView, error) {
	var out MachineView
	return out, c.Do(ctx, http.MethodPatch, "/machines/"+url.PathEscape(mac), p, &out)
}

// DeleteMachine forgets a machine.
func (c *Client) DeleteMachine(ctx context.Context, mac string) error {
	return c.Do(ctx, http.MethodDelete, "/machines/"+url.PathEscape(mac), nil, nil)
}

// SetBootOnce sets the item of the machine's next boot; "" cancels it.
func (c *Client) SetBootOnce(ctx context.Context, mac, item string) (MachineView, error) {
	var out MachineView
	if item == "" {
		return out, c.Do(ctx, http.MethodDelete, "/machines/"+url.PathEscape(mac)+"/boot-once", nil, &out)
	}
	return out, c.Do(ctx, http.MethodPost, "/machines/"+url.PathEscape(mac)+"/boot-once", BootOnceRequest{Item: item}, &out)
}

// MachineEvents returns a machine's recorded events, oldest first.
func (c *Client) MachineEvents(ctx context.Context, mac string) ([]events.Event, error) {
	var out []events.Event
	return out, c.Do(ctx, http.MethodGet, "/machines/"+url.PathEscape(mac)+"/events", nil, &out)
}

// MachineMenu returns the iPXE script the machine would get now.
func (c *Client) MachineMenu(ctx context.Context, mac, arch string) (string, error) {
	p := "/machines/" + url.PathEscape(mac) + "/menu"
	if arch != "" {
		p += "?arch=" + url.QueryEscape(arch)
	}
	resp, err := c.Send(ctx, http.MethodGet, p, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

// Events returns recent events: of one machine if mac is set, after the
// event numbered after.
func (c *Client) Events(ctx context.Context, mac string, after uint64, limit int) ([]events.Event, error) {
	var out []events.Event
	return out, c.Do(ctx, http.MethodGet, "/events?"+eventQuery(mac, after, limit, false), nil, &out)
}

func eventQuery(mac string, after uint64, limit int, follow bool) string {
	q := url.Values{}
	if mac != "" {
		q.Set("mac", mac)
	}
	if after > 0 {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if follow {
		q.Set("follow", "1")
	}
	return q.Encode()
}

// ErrEventStreamEnded is returned by FollowEvents when the server closed the
// stream (it stopped or restarted): follow again to go on.
var ErrEventStreamEnded = errors.New("the server closed the event stream")

// FollowEvents calls fn with each event of the live stream (of one machine
// if mac is set, replaying those after the event numbered after) until ctx
// ends or the stream does. lagged, if not nil, is told when the server
// dropped events because this client read too slowly.
func (c *Client) FollowEvents(ctx context.Context, mac string, after uint64, fn func(events.Event), lagged func(dropped uint64)) error {
	resp, err := c.Send(ctx, http.MethodGet, "/events?"+eventQuery(mac, after, 0, true), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, EventStream) {
		return fmt.Errorf("event stream: the server answered %q, not %s", ct, EventStream)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if err := dispatchSSE(name, data, fn, lagged); err != nil {
				return err
			}
			name, data = "", ""
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w (%v)", ErrEventStreamEnded, err)
	}
	return ErrEventStreamEnded
}

func dispatchSSE(name, data string, fn func(events.Event), lagged func(uint64)) error {
	switch name {
	case "boot":
		var ev events.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		fn(ev)
	case SSELagged:
		var d struct{ Dropped uint64 }
		json.Unmarshal([]byte(data), &d)
		if lagged != nil {
			lagged(d.Dropped)
		}
	}
	return nil
}
