package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

func requestCommand() *cli.Command {
	return &cli.Command{
		Name:      "request",
		Usage:     "send one FastCGI request and print the CGI response (a client for people and tests)",
		ArgsUsage: "PATH[?QUERY]",
		Description: "Sends a request as a web server would: SCRIPT_NAME, REQUEST_URI and QUERY_STRING come from PATH, " +
			"HTTP_* from -H, and --param sets or overrides any param (e.g. --param SCRIPT_FILENAME=/srv/cgi/x.cgi). " +
			"The response (head and body) is streamed to stdout and FCGI_STDERR to stderr. Exits 0 when the request " +
			"completed, whatever its HTTP status; 1 when it could not be sent or did not complete.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "connect", Aliases: []string{"C"}, EnvVars: envVar("connect"),
				Usage: "the responder's socket `URL` (unix:/path, /path, tcp:host:port)"},
			&cli.StringFlag{Name: "method", Aliases: []string{"X"}, Value: "",
				Usage: "request `METHOD` (default GET, or POST with --data)"},
			&cli.StringFlag{Name: "data", Aliases: []string{"d"},
				Usage: "request body: a `STRING`, @FILE, or @- for stdin (streamed)"},
			&cli.StringSliceFlag{Name: "param", Aliases: []string{"p"},
				Usage: "set a FastCGI param `K=V` (repeatable; wins over the defaults)"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"},
				Usage: "send an HTTP header as `'Name: value'` (becomes HTTP_NAME; Content-Type and Content-Length become CONTENT_*)"},
			&cli.StringFlag{Name: "role", Value: "responder",
				Usage: "FastCGI `ROLE`: responder, authorizer or filter"},
			&cli.StringFlag{Name: "filter-data",
				Usage: "FCGI_DATA for the filter role: a `STRING`, @FILE or @-"},
			&cli.DurationFlag{Name: "timeout",
				Usage: "abort the request (FCGI_ABORT_REQUEST) after this long; 0 means wait"},
			&cli.BoolFlag{Name: "values",
				Usage: "send FCGI_GET_VALUES instead of a request and print the reply"},
			&cli.BoolFlag{Name: "keep-conn",
				Usage: "set FCGI_KEEP_CONN, as nginx does with fastcgi_keep_conn on"},
		},
		Action: requestAction,
	}
}

func requestAction(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if c.String("connect") == "" {
		return usageError("request needs --connect URL (or FCGI_WRAP_CONNECT)")
	}
	if c.Bool("values") {
		if c.NArg() != 0 {
			return usageError("request --values takes no PATH")
		}
		return getValues(ctx, c.String("connect"))
	}
	if c.NArg() != 1 {
		return usageError("request needs exactly one PATH[?QUERY], got %d arguments", c.NArg())
	}
	req, closeBody, err := buildClientRequest(c)
	if err != nil {
		return usageError("%v", err)
	}
	defer closeBody()

	conn, err := daemon.Dial(ctx, c.String("connect"))
	if err != nil {
		return runtimeError("connect: %v", err)
	}
	client := wire.NewClient(conn)
	defer client.Close()

	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	stdout := bufio.NewWriterSize(os.Stdout, 64<<10)
	end, err := client.Do(ctx, req, flushingWriter{stdout}, os.Stderr)
	stdout.Flush()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return runtimeError("request aborted after --timeout %s", c.Duration("timeout"))
		}
		return runtimeError("request failed: %v", err)
	}
	if end.ProtocolStatus != wire.StatusRequestComplete {
		return runtimeError("responder refused the request: %s", end.ProtocolStatus)
	}
	return nil
}

// flushingWriter hands each piece of the response on as it arrives, so a
// progress page shows progress; the buffer only merges what arrives at once.
type flushingWriter struct{ w *bufio.Writer }

func (f flushingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

func getValues(ctx context.Context, url string) error {
	conn, err := daemon.Dial(ctx, url)
	if err != nil {
		return runtimeError("connect: %v", err)
	}
	client := wire.NewClient(conn)
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	values, err := client.GetValues(ctx, wire.MaxConnsName, wire.MaxReqsName, wire.MpxsConnsName)
	if err != nil {
		return runtimeError("get values: %v", err)
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("%s=%s\n", name, values[name])
	}
	return nil
}

// buildClientRequest turns the command line into the params a web server
// would send for it.
func buildClientRequest(c *cli.Context) (*wire.ClientRequest, func(), error) {
	target := c.Args().First()
	path, query, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(path, "/") {
		return nil, nil, fmt.Errorf("PATH %q must start with /", target)
	}
	role, err := parseRole(c.String("role"))
	if err != nil {
		return nil, nil, err
	}
	req := &wire.ClientRequest{Role: role, KeepConn: c.Bool("keep-conn")}
	params := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE":   "fcgi-wrap-request",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_NAME":       "localhost",
		"SERVER_ADDR":       "127.0.0.1",
		"SERVER_PORT":       "80",
		"REMOTE_ADDR":       "127.0.0.1",
		"REMOTE_PORT":       "40000",
		"REQUEST_METHOD":    "GET",
		"REQUEST_SCHEME":    "http",
		"SCRIPT_NAME":       path,
		"DOCUMENT_URI":      path,
		"REQUEST_URI":       target,
		"QUERY_STRING":      query,
	}
	closeAll, err := attachBodies(c, req, params)
	if err == nil {
		err = overrideParams(c, params)
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		req.Params = append(req.Params, wire.Pair{Name: name, Value: params[name]})
	}
	return req, closeAll, nil
}

// attachBodies opens --data and --filter-data as the request's streams and
// sets the params that describe them; closeAll closes what it opened.
func attachBodies(c *cli.Context, req *wire.ClientRequest, params map[string]string) (closeAll func(), err error) {
	var closers []io.Closer
	closeAll = func() {
		for _, cl := range closers {
			cl.Close()
		}
	}
	if data := c.String("data"); c.IsSet("data") {
		body, size, closer, err := openData(data)
		if err != nil {
			return closeAll, err
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		req.Stdin = body
		params["REQUEST_METHOD"] = "POST"
		params["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
		if size >= 0 {
			params["CONTENT_LENGTH"] = strconv.FormatInt(size, 10)
		}
	}
	if data := c.String("filter-data"); c.IsSet("filter-data") {
		body, size, closer, err := openData(data)
		if err != nil {
			return closeAll, err
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		req.Data = body
		if size >= 0 {
			params["FCGI_DATA_LENGTH"] = strconv.FormatInt(size, 10)
		}
	}
	return closeAll, nil
}

// overrideParams applies --method, -H and --param, in that order, so that
// --param wins over everything.
func overrideParams(c *cli.Context, params map[string]string) error {
	if m := c.String("method"); m != "" {
		params["REQUEST_METHOD"] = m
	}
	for _, h := range c.StringSlice("header") {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		key := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(name), "-", "_"))
		if key != "CONTENT_TYPE" && key != "CONTENT_LENGTH" {
			key = "HTTP_" + key
		}
		params[key] = strings.TrimSpace(value)
	}
	for _, kv := range c.StringSlice("param") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return fmt.Errorf("--param %q: want NAME=VALUE", kv)
		}
		params[name] = value
	}
	return nil
}

// openData opens a --data argument; size is -1 when unknown (stdin).
func openData(arg string) (r io.Reader, size int64, closer io.Closer, err error) {
	switch {
	case arg == "@-":
		return os.Stdin, -1, nil, nil
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, 0, nil, fmt.Errorf("--data: %v", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, nil, fmt.Errorf("--data: %v", err)
		}
		size = -1
		if fi.Mode().IsRegular() {
			size = fi.Size()
		}
		return f, size, f, nil
	}
	return strings.NewReader(arg), int64(len(arg)), nil, nil
}

func parseRole(name string) (wire.Role, error) {
	switch strings.ToLower(name) {
	case "responder", "":
		return wire.RoleResponder, nil
	case "authorizer":
		return wire.RoleAuthorizer, nil
	case "filter":
		return wire.RoleFilter, nil
	}
	if n, err := strconv.ParseUint(name, 10, 16); err == nil {
		return wire.Role(n), nil
	}
	return 0, fmt.Errorf("--role %q: want responder, authorizer or filter", name)
}
