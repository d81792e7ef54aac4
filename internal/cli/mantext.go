package cli

// The parts of fcgi-wrap(8) that no flag describes. They are roff; keep
// them in step with the README's "Operating it" and "Install".

// manEnvironment follows the FCGI_WRAP_* variables in ENVIRONMENT.
const manEnvironment = `.TP
\fBFCGI_WEB_SERVER_ADDRS\fR
comma\-separated IP addresses allowed to connect over TCP, as libfcgi reads it; added to \fB\-\-allow\-from\fR
.TP
\fBLISTEN_FDS\fR, \fBLISTEN_PID\fR, \fBLISTEN_FDNAMES\fR
sockets passed by systemd socket activation; used when no \fB\-\-socket\fR is given
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
set by systemd for a \fIType=notify\fR service: fcgi\-wrap reports READY=1, STATUS= and STOPPING=1, and feeds the watchdog
.TP
\fBGOMAXPROCS\fR
threads running fcgi\-wrap's own Go code; by default half the CPUs, leaving the rest to the scripts
`

// manSection is one section after ENVIRONMENT.
type manSection struct{ title, body string }

var manSections = []manSection{
	{"SIGNALS", `.TP
\fBSIGTERM\fR, \fBSIGINT\fR
stop accepting; queued requests get 503; running ones get \fB\-\-shutdown\-timeout\fR to finish, then are killed; exit 0. A second signal kills at once.
.TP
\fBSIGHUP\fR
reload \fB\-\-config\fR. Workers, queue, timeouts, environment, allow rules and log level apply to new requests; a bad or empty file is rejected and logged, and the old settings stay. The file is also reloaded on its own once it has been unchanged for half a second after a change, but such a reload never loosens confinement: that takes SIGHUP.
.TP
\fBSIGUSR1\fR
reopen \fB\-\-log\-file\fR and \fB\-\-access\-log\fR, after logrotate moved them. A file fcgi\-wrap created before dropping privileges belongs to \fB\-\-user\fR; where the new file cannot be created, the error goes to the log and to stderr.
`},
	{"EXIT STATUS", `.TP
\fB0\fR
serving: stopped by SIGTERM or SIGINT. \fBcheck\fR: the configuration is ok (warnings may have been printed). \fBrequest\fR: the request completed, whatever its HTTP status.
.TP
\fB1\fR
serving: could not start (a socket in use or in a missing directory, a user that does not exist, refusing to run scripts as root) or a listener failed. \fBcheck\fR: anything serving would refuse, bad options, environment variables and \fB\-\-config\fR files included. \fBrequest\fR: the request could not be sent or did not complete.
.TP
\fB2\fR
a usage error: an unknown option, a bad value, no socket to listen on, a bad \fB\-\-config\fR file (never from \fBcheck\fR).
`},
	{"FILES", `.TP
\fI/etc/fcgi\-wrap/fcgi\-wrap.yaml\fR
the settings the package's service reads (\fBFCGI_WRAP_CONFIG\fR); keys are the long option names, and one value may stand for a list
.TP
\fI/usr/lib/systemd/system/fcgi\-wrap.socket\fR, \fI/usr/lib/systemd/system/fcgi\-wrap.service\fR
the socket (\fI/run/fcgi\-wrap/fcgi\-wrap.sock\fR, www\-data:www\-data 0660) and the \fIType=notify\fR service
.TP
\fI/var/log/fcgi\-wrap/access.log\fR
the service's access log, rotated by \fI/etc/logrotate.d/fcgi\-wrap\fR
.TP
\fI/usr/share/doc/fcgi\-wrap/examples/\fR
web server configurations known to work with fcgi\-wrap
`},
	{"EXAMPLES", `Scripts named by nginx, confined to one directory, with a socket for the web server's group:
.PP
.EX
fcgi\-wrap \-\-socket unix:/run/fcgi\-wrap.sock \-\-user www\-data \-\-root /usr/lib/cgi\-bin
.EE
.PP
and in nginx:
.PP
.EX
location /cgi\-bin/ {
    include fastcgi_params;
    fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
    fastcgi_pass unix:/run/fcgi\-wrap.sock;
}
.EE
.PP
One program for every request, on every address of a host name:
.PP
.EX
fcgi\-wrap \-\-socket tcp:localhost:9000 \-\-user www\-data /usr/lib/cgit/cgit.cgi
.EE
.PP
Check a changed configuration before reloading it, as with nginx \-t:
.PP
.EX
fcgi\-wrap check \-\-config /etc/fcgi\-wrap/fcgi\-wrap.yaml && systemctl reload fcgi\-wrap
.EE
.PP
Send a request by hand, as a web server would:
.PP
.EX
fcgi\-wrap request \-\-connect unix:/run/fcgi\-wrap/fcgi\-wrap.sock \-\-param SCRIPT_FILENAME=/usr/lib/cgi\-bin/hello.cgi /hello.cgi
.EE
.PP
Under spawn\-fcgi, with the socket on file descriptor 0:
.PP
.EX
spawn\-fcgi \-s /run/fcgi\-wrap.sock \-M 0660 \-U www\-data \-u www\-data \-n \-\- /usr/bin/fcgi\-wrap
.EE
`},
	{"SEE ALSO", `\fBnginx\fR(8), \fBlighttpd\fR(8), \fBspawn\-fcgi\fR(1), \fBfcgiwrap\fR(8), \fBsystemd.socket\fR(5), \fBlogrotate\fR(8)
`},
}
