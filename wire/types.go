package wire

import "strconv"

// Version1 is the only protocol version (FCGI_VERSION_1, spec section 8).
const Version1 = 1

// MaxContent is the largest content a record can carry: its length is a
// 16-bit field (spec section 3.3).
const MaxContent = 65535

// ListenSockFileno is the file descriptor on which a web server that starts
// the application passes the listening socket (FCGI_LISTENSOCK_FILENO,
// spec section 2.2).
const ListenSockFileno = 0

// FlagKeepConn in a BEGIN_REQUEST asks the application to keep the connection
// open after the request (FCGI_KEEP_CONN, spec section 5.1).
const FlagKeepConn = 1

// Variable names of FCGI_GET_VALUES (spec section 4.1).
const (
	MaxConnsName  = "FCGI_MAX_CONNS"
	MaxReqsName   = "FCGI_MAX_REQS"
	MpxsConnsName = "FCGI_MPXS_CONNS"
)

// RecType is a record type (spec section 8).
type RecType uint8

// Record types, spec section 8.
const (
	TypeBeginRequest    RecType = 1
	TypeAbortRequest    RecType = 2
	TypeEndRequest      RecType = 3
	TypeParams          RecType = 4
	TypeStdin           RecType = 5
	TypeStdout          RecType = 6
	TypeStderr          RecType = 7
	TypeData            RecType = 8
	TypeGetValues       RecType = 9
	TypeGetValuesResult RecType = 10
	TypeUnknownType     RecType = 11
)

var recTypeNames = [...]string{
	TypeBeginRequest:    "BEGIN_REQUEST",
	TypeAbortRequest:    "ABORT_REQUEST",
	TypeEndRequest:      "END_REQUEST",
	TypeParams:          "PARAMS",
	TypeStdin:           "STDIN",
	TypeStdout:          "STDOUT",
	TypeStderr:          "STDERR",
	TypeData:            "DATA",
	TypeGetValues:       "GET_VALUES",
	TypeGetValuesResult: "GET_VALUES_RESULT",
	TypeUnknownType:     "UNKNOWN_TYPE",
}

func (t RecType) String() string {
	if int(t) < len(recTypeNames) && recTypeNames[t] != "" {
		return recTypeNames[t]
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// isManagement reports whether t is a management record type, which only
// travels on request ID 0. Types the spec does not define count as
// management types: a peer may use newer ones and gets UNKNOWN_TYPE back
// (spec section 4.2).
func (t RecType) isManagement() bool {
	return t < TypeBeginRequest || t > TypeData
}

// Role is the role a BEGIN_REQUEST asks for (spec section 5.1, 6).
type Role uint16

// Roles, spec section 8.
const (
	RoleResponder  Role = 1
	RoleAuthorizer Role = 2
	RoleFilter     Role = 3
)

// String gives the name CGI-style applications expect in FCGI_ROLE.
func (r Role) String() string {
	switch r {
	case RoleResponder:
		return "RESPONDER"
	case RoleAuthorizer:
		return "AUTHORIZER"
	case RoleFilter:
		return "FILTER"
	}
	return "ROLE(" + strconv.Itoa(int(r)) + ")"
}

// ProtocolStatus is the protocolStatus of an END_REQUEST (spec section 5.5).
type ProtocolStatus uint8

// Protocol statuses, spec section 8.
const (
	StatusRequestComplete ProtocolStatus = 0
	StatusCantMpxConn     ProtocolStatus = 1
	StatusOverloaded      ProtocolStatus = 2
	StatusUnknownRole     ProtocolStatus = 3
)

func (s ProtocolStatus) String() string {
	switch s {
	case StatusRequestComplete:
		return "REQUEST_COMPLETE"
	case StatusCantMpxConn:
		return "CANT_MPX_CONN"
	case StatusOverloaded:
		return "OVERLOADED"
	case StatusUnknownRole:
		return "UNKNOWN_ROLE"
	}
	return "STATUS(" + strconv.Itoa(int(s)) + ")"
}
