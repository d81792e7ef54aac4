package daemon

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// webServerUsers are the accounts web servers run as on the common
// distributions (Debian, Fedora, Arch, SUSE, OpenBSD's h2o). Those that
// exist on this machine are the ones a socket should admit.
var webServerUsers = []string{"www-data", "nginx", "http", "apache", "lighttpd", "caddy", "haproxy", "_h2o", "h2o", "wwwrun"}

// identity is a user as the kernel's permission check sees it.
type identity struct {
	name string
	uid  uint32
	gids []uint32 // primary and supplementary
}

// fileAccess is what the permission check reads of a file.
type fileAccess struct {
	uid, gid uint32
	mode     os.FileMode
}

// permits is the classic Unix check (ACLs aside): the owner's bits for
// the owner, else the group's for a member, else the others'. want is a
// mask of 4 (read), 2 (write), 1 (search).
func (f fileAccess) permits(id identity, want os.FileMode) bool {
	if id.uid == 0 {
		return true
	}
	perm := f.mode.Perm()
	switch {
	case id.uid == f.uid:
		perm >>= 6
	case containsGID(id.gids, f.gid):
		perm >>= 3
	}
	return perm&want == want
}

func containsGID(gids []uint32, gid uint32) bool {
	for _, g := range gids {
		if g == gid {
			return true
		}
	}
	return false
}

// reaches reports whether id can connect to a unix socket: connect(2)
// needs search permission on every directory above it and write
// permission on the socket itself.
func reaches(id identity, dirs []fileAccess, sock fileAccess) bool {
	for _, d := range dirs {
		if !d.permits(id, 1) {
			return false
		}
	}
	return sock.permits(id, 2)
}

// lookupIdentities finds the users of names that exist here.
func lookupIdentities(names []string) []identity {
	var ids []identity
	for _, name := range names {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		id := identity{name: name, uid: atou32(u.Uid)}
		id.gids = append(id.gids, atou32(u.Gid))
		if groups, err := u.GroupIds(); err == nil {
			for _, g := range groups {
				id.gids = append(id.gids, atou32(g))
			}
		}
		ids = append(ids, id)
	}
	return ids
}

func atou32(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// ancestors are the directories above path, as the permission check meets
// them on the way down; one that cannot be read is left out.
func ancestors(path string) []fileAccess {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	var dirs []fileAccess
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if fa, ok := statAccess(dir); ok {
			dirs = append(dirs, fa)
		}
		if dir == "/" || dir == "." {
			return dirs
		}
	}
}

func statAccess(path string) (fileAccess, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileAccess{}, false
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileAccess{uid: st.Uid, gid: st.Gid, mode: fi.Mode()}, true
}

// plannedSocket is how a unix socket at path will be once listenUnix has
// made it: --socket-mode, and socketOwner's ids or, for the ids it
// leaves, this process's (or the directory's group, if set-group-ID).
func plannedSocket(path string, st *Startup) fileAccess {
	sock := fileAccess{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()), mode: st.SocketMode}
	if dir, ok := statAccess(filepath.Dir(path)); ok && dir.mode&os.ModeSetgid != 0 {
		sock.gid = dir.gid
	}
	uid, gid, err := socketOwner(st)
	if err != nil {
		return sock // reported by Validate already
	}
	if uid >= 0 {
		sock.uid = uint32(uid)
	}
	if gid >= 0 {
		sock.gid = uint32(gid)
	}
	return sock
}

// socketReachWarnings warns when none of the web-server users this machine
// has could connect to the socket fcgi-wrap would create at path: the web
// server would answer 502 ("13: Permission denied" in nginx's log) while
// fcgi-wrap sees nothing. With no such user here, nothing is said.
func socketReachWarnings(raw, path string, st *Startup) []Warning {
	ids := lookupIdentities(webServerUsers)
	if len(ids) == 0 {
		return nil
	}
	sock := plannedSocket(path, st)
	dirs := ancestors(path)
	var names []string
	for _, id := range ids {
		if reaches(id, dirs, sock) {
			return nil
		}
		names = append(names, id.name)
	}
	owner := fmt.Sprintf("%s:%s", userName(sock.uid), groupName(sock.gid))
	return []Warning{{
		Msg: "no web server user can connect to this socket",
		Args: []any{"socket", raw, "owner", owner, "mode", fmt.Sprintf("%04o", sock.mode.Perm()),
			"users", strings.Join(names, ","),
			"hint", fmt.Sprintf("give it to the web server's group with --socket-owner :%s (or run as --user %s), with a --socket-mode that lets the group write, in directories it may search",
				groupName(ids[0].gids[0]), names[0])},
	}}
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}
