package cgroup

import (
	"strings"
	"testing"
)

func TestFindMount(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		want      mount
		wantErr   bool
	}{
		{"unified", "24 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
			mount{point: "/sys/fs/cgroup", root: "/"}, false},
		{"hybrid", "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
			"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
			"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
			mount{point: "/sys/fs/cgroup/unified", root: "/"}, false},
		{"read-only container", "600 590 0:27 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n",
			mount{point: "/sys/fs/cgroup", root: "/docker/abc", readOnly: true}, false},
		{"escaped space", `24 1 0:22 / /mnt/my\040cgroups rw shared:1 master:2 - cgroup2 none rw` + "\n",
			mount{point: "/mnt/my cgroups", root: "/"}, false},
		{"none", "22 1 0:21 / /proc rw - proc proc rw\n", mount{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findMount([]byte(tt.mountinfo))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOwnPathAndDir(t *testing.T) {
	hybrid := "9:name=systemd:/\n4:memory,hugetlb:/x\n0::/system.slice/fcgi-wrap.service\n"
	p, err := ownPath([]byte(hybrid))
	if err != nil || p != "/system.slice/fcgi-wrap.service" {
		t.Fatalf("got %q, %v; want /system.slice/fcgi-wrap.service", p, err)
	}
	if _, err := ownPath([]byte("4:memory:/\n")); err == nil {
		t.Error("a v1-only listing: got no error, want one")
	}
	if got := v1Controllers([]byte(hybrid)); !got["memory"] || !got["hugetlb"] || got["name=systemd"] || len(got) != 2 {
		t.Errorf("v1 controllers: got %v, want memory and hugetlb", got)
	}
	m := mount{point: "/sys/fs/cgroup", root: "/docker/abc"}
	if d, err := m.dirOf("/docker/abc/sub"); err != nil || d != "/sys/fs/cgroup/sub" {
		t.Errorf("dirOf inside the mount's root: got %q, %v", d, err)
	}
	if _, err := m.dirOf("/docker/other"); err == nil {
		t.Error("dirOf outside the mount's root: got no error, want one")
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in, ctrl, errPart string
	}{
		{"memory.max=256M", "memory", ""},
		{"cpu.max=50000 100000", "cpu", ""},
		{"pids.max=64", "pids", ""},
		{"memory.max", "", "want KEY=VALUE"},
		{"memory.max=", "", "want KEY=VALUE"},
		{"max=1", "", "not a control file name"},
		{"../x.max=1", "", "not a control file name"},
		{"cgroup.procs=1", "", "fcgi-wrap's to manage"},
		{"memory.max=1\n2", "", "newline"},
	}
	for _, tt := range tests {
		l, err := ParseLimit(tt.in)
		switch {
		case tt.errPart == "" && (err != nil || l.Controller() != tt.ctrl || l.String() != tt.in):
			t.Errorf("ParseLimit(%q): got %v (%s), %v; want controller %s", tt.in, l, l.Controller(), err, tt.ctrl)
		case tt.errPart != "" && (err == nil || !strings.Contains(err.Error(), tt.errPart)):
			t.Errorf("ParseLimit(%q): got error %v, want one containing %q", tt.in, err, tt.errPart)
		}
	}
}
