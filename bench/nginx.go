package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const sectionNginx = "Through nginx, measured with wrk"

// nginxConf is a self-contained configuration: one worker (two cores are
// shared with wrk, the wrapper and the scripts), no access log, and three
// routes to the same tiny CGI: fcgi-wrap with a connection per request
// (nginx's default), fcgi-wrap with upstream keepalive, and fcgiwrap.
const nginxConf = `user root;
worker_processes 1;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path {{dir}}/body;
	fastcgi_temp_path {{dir}}/fastcgi;
	proxy_temp_path {{dir}}/proxy;
	uwsgi_temp_path {{dir}}/uwsgi;
	scgi_temp_path {{dir}}/scgi;
	upstream fw_keep {
		server unix:{{fw}};
		keepalive 16;
	}
	server {
		listen 127.0.0.1:{{port}};
		fastcgi_param QUERY_STRING $query_string;
		fastcgi_param REQUEST_METHOD $request_method;
		fastcgi_param CONTENT_TYPE $content_type;
		fastcgi_param CONTENT_LENGTH $content_length;
		fastcgi_param SCRIPT_NAME $fastcgi_script_name;
		fastcgi_param REQUEST_URI $request_uri;
		fastcgi_param DOCUMENT_URI $document_uri;
		fastcgi_param DOCUMENT_ROOT {{www}};
		fastcgi_param SERVER_PROTOCOL $server_protocol;
		fastcgi_param REQUEST_SCHEME $scheme;
		fastcgi_param GATEWAY_INTERFACE CGI/1.1;
		fastcgi_param SERVER_SOFTWARE nginx/$nginx_version;
		fastcgi_param REMOTE_ADDR $remote_addr;
		fastcgi_param REMOTE_PORT $remote_port;
		fastcgi_param SERVER_ADDR $server_addr;
		fastcgi_param SERVER_PORT $server_port;
		fastcgi_param SERVER_NAME $server_name;
		fastcgi_param SCRIPT_FILENAME {{script}};
		location /fw/ { fastcgi_pass unix:{{fw}}; }
		location /fwkeep/ { fastcgi_keep_conn on; fastcgi_pass fw_keep; }
		location /fcgiwrap/ { fastcgi_pass unix:{{other}}; }
	}
}
`

// startNginx writes the configuration into its own directory and starts
// nginx in the foreground, in its own process group like the daemons.
func startNginx(ctx context.Context, ws *workspace, fw, other *server, script string) (*proc, string, error) {
	dir := filepath.Join(ws.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{fw}}", fw.sock, "{{other}}", other.sock,
		"{{port}}", port, "{{www}}", ws.www, "{{script}}", script).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc("nginx", filepath.Join(dir, "nginx.out"), []string{"nginx", "-p", dir, "-c", confPath}, daemonEnv())
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + port
	if err := waitListening(ctx, p, "tcp", addr); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("%w\n%s", err, readFile(filepath.Join(dir, "nginx-error.log")))
	}
	return p, "http://" + addr, nil
}

// freePort asks the kernel for an unused loopback port. Another program
// could take it before nginx binds it; nginx then fails to start and says
// so, which is enough for a benchmark.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func (s *suite) nginx(ctx context.Context) error {
	for _, tool := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			s.notes = append(s.notes, fmt.Sprintf("The nginx comparison was skipped: %s is not installed.", tool))
			return nil
		}
	}
	fw, other, err := startPair(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	defer other.stop()
	ngx, base, err := startNginx(ctx, s.ws, fw, other, s.ws.scripts["tiny"])
	if err != nil {
		return err
	}
	defer ngx.stop()
	for _, c := range s.cfg.wrkConcs {
		// Each route's CPU is the wrapper's behind it; nginx's is not counted.
		wrkRun := func(path string, srv *server) func(ctx context.Context) (loadResult, error) {
			return func(ctx context.Context) (loadResult, error) {
				var err error
				r := withCPU(srv, func() loadResult {
					var w wrkResult
					w, err = runWrk(ctx, base+path, c, s.cfg.wrkDur)
					return wrkAsLoad(w)
				})
				return r, err
			}
		}
		res, err := s.alternate(ctx, fmt.Sprintf("nginx tiny c=%d", c), []contender{
			{nameFW, wrkRun("/fw/", fw)},
			{nameFcgiwrap, wrkRun("/fcgiwrap/", other)},
			{nameFW + " keepalive", wrkRun("/fwkeep/", fw)},
		})
		if err != nil {
			return err
		}
		a, b, k := summarize(res[0]), summarize(res[1]), summarize(res[2])
		s.rows = append(s.rows, row{
			Section:  sectionNginx,
			Scenario: fmt.Sprintf("tiny C CGI, %d connections, %d workers", c, s.cfg.workers),
			FW:       a.rpsText(), Other: b.rpsText(),
			Limit:   "fcgi-wrap with upstream keepalive: " + k.rpsText(),
			VsOther: pairedRatio(a.rps, b.rps), VsLimit: pairedRatio(a.rps, k.rps),
			CPUVsOther: cpuRatio(a, b, false),
		})
	}
	return nil
}

// wrkAsLoad carries wrk's figures in a loadResult so both kinds of run
// share the tables. wrk reports percentiles, not samples, so the two are
// stored as a two-sample distribution whose p50 and p99 are exactly them.
func wrkAsLoad(w wrkResult) loadResult {
	r := loadResult{Requests: w.Requests - w.Non2xx, Errors: w.Non2xx + w.SockErrs}
	if w.RPS > 0 {
		r.Elapsed = time.Duration(float64(w.Requests) / w.RPS * float64(time.Second))
		r.Requests = w.Requests - w.Non2xx
	}
	r.Latencies = []time.Duration{w.P50, w.P99}
	if r.Errors > 0 {
		r.FirstErr = fmt.Errorf("%d non-2xx responses, %d socket errors", w.Non2xx, w.SockErrs)
	}
	return r
}
