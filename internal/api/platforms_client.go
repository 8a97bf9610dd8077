package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"rackboot/internal/smartos"
)

// Platforms returns the server's platform catalog, newest first.
func (c *Client) Platforms(ctx context.Context) ([]Platform, error) {
	var out []Platform
	return out, c.Do(ctx, http.MethodGet, "/platforms", nil, &out)
}

// Platform returns one platform, with its rescue root password.
func (c *Client) Platform(ctx context.Context, build string) (Platform, error) {
	var out Platform
	return out, c.Do(ctx, http.MethodGet, "/platforms/"+url.PathEscape(build), nil, &out)
}

// ImportPlatform asks the server to import a platform, calling progress (if
// not nil) for each progress line it streams back. Cancelling ctx closes
// the connection, which cancels the import on the server.
func (c *Client) ImportPlatform(ctx context.Context, req ImportRequest, progress func(smartos.ProgressEvent)) (smartos.CatalogEntry, error) {
	resp, err := c.Send(ctx, http.MethodPost, "/platforms", req)
	if err != nil {
		return smartos.CatalogEntry{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m ImportMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return smartos.CatalogEntry{}, fmt.Errorf("import stream: %w", err)
		}
		switch {
		case m.Error != "":
			return smartos.CatalogEntry{}, errors.New(m.Error)
		case m.Platform != nil:
			return m.Platform.CatalogEntry, nil
		case m.Progress != nil && progress != nil:
			progress(*m.Progress)
		}
	}
	if err := ctx.Err(); err != nil {
		return smartos.CatalogEntry{}, err
	}
	if err := sc.Err(); err != nil {
		return smartos.CatalogEntry{}, fmt.Errorf("%w (%v)", ErrStreamEnded, err)
	}
	return smartos.CatalogEntry{}, ErrStreamEnded
}

// SetDefaultPlatform makes build the default platform.
func (c *Client) SetDefaultPlatform(ctx context.Context, build string) error {
	return c.Do(ctx, http.MethodPost, "/platforms/"+url.PathEscape(build)+"/default", nil, nil)
}

// SetPlatformPinned pins or unpins build.
func (c *Client) SetPlatformPinned(ctx context.Context, build string, pinned bool) error {
	action := "/unpin"
	if pinned {
		action = "/pin"
	}
	return c.Do(ctx, http.MethodPost, "/platforms/"+url.PathEscape(build)+action, nil, nil)
}

// RemovePlatform deletes build from the server.
func (c *Client) RemovePlatform(ctx context.Context, build string, force bool) error {
	p := "/platforms/" + url.PathEscape(build)
	if force {
		p += "?force=true"
	}
	return c.Do(ctx, http.MethodDelete, p, nil, nil)
}

// PrunePlatforms keeps the keep newest builds (and the default and pinned
// ones) and returns the builds removed.
func (c *Client) PrunePlatforms(ctx context.Context, keep int) ([]string, error) {
	var out PruneResult
	err := c.Do(ctx, http.MethodPost, "/platforms/prune", PruneRequest{Keep: keep}, &out)
	return out.Removed, err
}

// RemotePlatforms is the platform operations of Platforms, done by a
// running server through c: the CLI uses either, and prints the same.
type RemotePlatforms struct{ Client *Client }

func (r RemotePlatforms) List(ctx context.Context) ([]Platform, error) {
	return r.Client.Platforms(ctx)
}
func (r RemotePlatforms) Get(ctx context.Context, build string) (Platform, error) {
	return r.Client.Platform(ctx, build)
}
func (r RemotePlatforms) Import(ctx context.Context, req ImportRequest, progress func(smartos.ProgressEvent)) (smartos.CatalogEntry, error) {
	return r.Client.ImportPlatform(ctx, req, progress)
}
func (r RemotePlatforms) SetDefault(ctx context.Context, build string) error {
	return r.Client.SetDefaultPlatform(ctx, build)
}
func (r RemotePlatforms) SetPinned(ctx context.Context, build string, pinned bool) error {
	return r.Client.SetPlatformPinned(ctx, build, pinned)
}
func (r RemotePlatforms) Remove(ctx context.Context, build string, force bool) error {
	return r.Client.RemovePlatform(ctx, build, force)
}
func (r RemotePlatforms) Prune(ctx context.Context, keep int) ([]string, error) {
	return r.Client.PrunePlatforms(ctx, keep)
}
func (r RemotePlatforms) Close() error { return nil }
