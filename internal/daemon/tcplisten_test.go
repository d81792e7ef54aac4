package daemon

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

// fakeResolver answers from tables, so the several-address case needs no
// DNS: hosts maps a name to its addresses, ports a service to its number.
type fakeResolver struct {
	hosts map[string][]string
	ports map[string]int
}

func (r fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

func (r fakeResolver) LookupPort(_ context.Context, _, service string) (int, error) {
	if p, ok := r.ports[service]; ok {
		return p, nil
	}
	return 0, errors.New("unknown port")
}

var testResolver = fakeResolver{
	hosts: map[string][]string{
		"both.test": {"127.0.0.1", "::1", "127.0.0.1"},
		"v6.test":   {"::1"},
	},
	ports: map[string]int{"http-alt": 8080},
}

func TestTCPAddresses(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
		err  string
	}{
		{"tcp:both.test:9000", []string{"127.0.0.1:9000", "[::1]:9000"}, ""},
		{"tcp4:both.test:9000", []string{"127.0.0.1:9000"}, ""},
		{"tcp6:both.test:9000", []string{"[::1]:9000"}, ""},
		{"tcp:127.0.0.1:http-alt", []string{"127.0.0.1:8080"}, ""},
		{"tcp:*:9000", []string{":9000"}, ""},
		{"tcp::9000", []string{":9000"}, ""},
		{"tcp:[::1]:9000", []string{"[::1]:9000"}, ""},
		{"tcp:nowhere.test:9000", nil, `socket tcp:nowhere.test:9000: cannot resolve host "nowhere.test": lookup nowhere.test: no such host`},
		{"tcp4:v6.test:9000", nil, `socket tcp4:v6.test:9000: host "v6.test" has no address for tcp4`},
		{"tcp:127.0.0.1:no-such-service", nil, `socket tcp:127.0.0.1:no-such-service: unknown port "no-such-service"`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			addr, err := ParseSocketURL(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tcpAddresses(context.Background(), testResolver, tt.raw, addr)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

// TestListenTCPEveryAddress pins the bug that only the first address of
// a name was bound: a name with an IPv4 and an IPv6 address gets a socket
// on each, on the one port the first was given.
func TestListenTCPEveryAddress(t *testing.T) {
	if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		l.Close()
	}
	addr, _ := ParseSocketURL("tcp:both.test:0")
	ls, err := listenTCP(context.Background(), testResolver, "tcp:both.test:0", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ls)
	if len(ls) != 2 {
		t.Fatalf("got %d listeners, want 2", len(ls))
	}
	a0, a1 := ls[0].Addr().(*net.TCPAddr), ls[1].Addr().(*net.TCPAddr)
	if a0.IP.To4() == nil || a1.IP.To4() != nil || a0.Port != a1.Port {
		t.Fatalf("got %s and %s, want 127.0.0.1 and [::1] on one port", a0, a1)
	}
	for _, l := range ls {
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("dial %s: %v", l.Addr(), err)
		}
		c.Close()
	}
}

func TestListenTCPBindError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	raw := "tcp:" + taken.Addr().String()
	addr, _ := ParseSocketURL(raw)
	_, err = listenTCP(context.Background(), testResolver, raw, addr)
	want := "socket " + raw + ": cannot listen on " + taken.Addr().String() + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestParseSocketURLPorts(t *testing.T) {
	for _, tt := range []struct{ raw, want, err string }{
		{"tcp:127.0.0.1:http-alt", "tcp:127.0.0.1:http-alt", ""},
		{"tcp:*:9000", "tcp::9000", ""},
		{"tcp:127.0.0.1:70000", "", "bad port"},
		{"tcp:127.0.0.1:-1", "", "bad port"},
		{"tcp:127.0.0.1:a/b", "", "bad port"},
	} {
		got, err := ParseSocketURL(tt.raw)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want error %q", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%s: got %s, %v, want %s", tt.raw, got, err, tt.want)
		}
	}
}
