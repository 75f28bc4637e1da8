package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client speaks flowkv's HTTP API for the harnesses.
type Client struct {
	Base  func() string // http://host:port (read per request: restarts keep the address)
	Token string
	HTTP  *http.Client
	// Timeout bounds one request; 0 means 30s.
	Timeout time.Duration
}

// NewClient returns a client with a connection pool sized for conns
// concurrent requests.
func NewClient(base func() string, token string, conns int) *Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &Client{Base: base, Token: token, HTTP: &http.Client{Transport: tr}}
}

// Close releases idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// Reply is one HTTP answer.
type Reply struct {
	Status int
	Code   string // error code from {"error": {"code"}}
	Msg    string
	Body   []byte
}

// Failure classes of a request that got no answer.
var (
	// ErrRefused: the connection was refused; the request never reached a
	// server, so it had no effect.
	ErrRefused = errors.New("connection refused")
	// ErrTimeout: no answer within the timeout; the server may still
	// apply it later.
	ErrTimeout = errors.New("timeout")
)

// EntryPath is /v1/store/{name}/{key}, percent-encoded.
func EntryPath(name, key string) string {
	return "/v1/store/" + url.PathEscape(name) + "/" + url.PathEscape(key)
}

// Do sends one request. A nil error means an HTTP answer was read (any
// status). Otherwise the error wraps ErrRefused, ErrTimeout or is another
// transport failure (connection lost: outcome unknown).
func (c *Client) Do(ctx context.Context, method, path string, body any, hdr map[string]string) (Reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	to := c.Timeout
	if to == 0 {
		to = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.Base()+path, rd)
	if err != nil {
		return Reply{}, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Reply{}, classify(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Reply{}, classify(err)
	}
	r := Reply{Status: res.StatusCode, Body: b}
	if res.StatusCode >= 400 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			r.Code, r.Msg = e.Error.Code, e.Error.Message
		}
	}
	return r, nil
}

func classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %v", ErrRefused, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return err
}

// entryReply is the part of an entry the harnesses read.
type entryReply struct {
	Data    json.RawMessage `json:"data"`
	Version int64           `json:"version"`
}

func parseEntry(b []byte) (val int64, ver int64, err error) {
	var e entryReply
	if err := json.Unmarshal(b, &e); err != nil {
		return 0, 0, err
	}
	val, err = strconv.ParseInt(strings.TrimSpace(string(e.Data)), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("data %s is not an integer", e.Data)
	}
	return val, e.Version, nil
}

// ListKeys returns every key of namespace name (paging with the cursor).
func (c *Client) ListKeys(ctx context.Context, name string) (map[string]bool, error) {
	keys := map[string]bool{}
	cursor := ""
	for {
		p := "/v1/store/" + url.PathEscape(name) + "?limit=1000"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r, err := c.Do(ctx, http.MethodGet, p, nil, nil)
		if err != nil {
			return nil, err
		}
		if r.Status != http.StatusOK {
			return nil, fmt.Errorf("list %s: %d %s %s", name, r.Status, r.Code, r.Msg)
		}
		var page struct {
			Items []struct {
				Key string `json:"key"`
			} `json:"items"`
			NextCursor string `json:"nextCursor"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			keys[it.Key] = true
		}
		if page.NextCursor == "" {
			return keys, nil
		}
		cursor = page.NextCursor
	}
}
