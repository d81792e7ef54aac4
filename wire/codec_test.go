package wire

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// rawRec builds a record by hand, independently of the package's encoder:
// version 1, type, id, content length, the given padding (filled with 0xAA
// so that padding is never mistaken for content).
func rawRec(t RecType, id uint16, content []byte, pad int) []byte {
	b := []byte{1, byte(t), byte(id >> 8), byte(id), byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
	b = append(b, content...)
	return append(b, bytes.Repeat([]byte{0xAA}, pad)...)
}

// rawPair builds a name-value pair by hand, with 4-byte lengths when long4.
func rawPair(name, value string, long4 bool) []byte {
	var b []byte
	for _, n := range []int{len(name), len(value)} {
		if n < 128 && !long4 {
			b = append(b, byte(n))
		} else {
			b = append(b, byte(n>>24)|0x80, byte(n>>16), byte(n>>8), byte(n))
		}
	}
	return append(append(b, name...), value...)
}

func TestAppendRecord(t *testing.T) {
	tests := []struct {
		name    string
		typ     RecType
		id      uint16
		content []byte
		want    []byte
	}{
		{"empty", TypeStdout, 1, nil, []byte{1, 6, 0, 1, 0, 0, 0, 0}},
		{"aligned", TypeStdin, 0x0102, []byte("12345678"), append([]byte{1, 5, 1, 2, 0, 8, 0, 0}, "12345678"...)},
		{"padded", TypeParams, 7, []byte("abc"), append([]byte{1, 4, 0, 7, 0, 3, 5, 0}, "abc\x00\x00\x00\x00\x00"...)},
		{"one past", TypeStderr, 65535, []byte("123456789"), append([]byte{1, 7, 0xff, 0xff, 0, 9, 7, 0}, "123456789\x00\x00\x00\x00\x00\x00\x00"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendRecord([]byte("x"), tt.typ, tt.id, tt.content)
			if want := append([]byte("x"), tt.want...); !bytes.Equal(got, want) {
				t.Errorf("got %x, want %x", got, want)
			}
			if (len(got)-1)%8 != 0 {
				t.Errorf("got length %d, want a multiple of 8", len(got)-1)
			}
		})
	}
}

func TestAppendRecordMaxContent(t *testing.T) {
	content := bytes.Repeat([]byte{'z'}, MaxContent)
	got := AppendRecord(nil, TypeStdout, 1, content)
	if want := 8 + MaxContent + 1; len(got) != want {
		t.Fatalf("got length %d, want %d", len(got), want)
	}
	if got[4] != 0xff || got[5] != 0xff || got[6] != 1 {
		t.Errorf("got header %x, want length ffff padding 1", got[:8])
	}
	defer func() {
		if recover() == nil {
			t.Error("got no panic for content of MaxContent+1, want one")
		}
	}()
	AppendRecord(nil, TypeStdout, 1, append(content, 'z'))
}

func TestReadRecordPadding(t *testing.T) {
	for _, pad := range []int{0, 1, 7, 8, 100, 255} {
		for _, clen := range []int{0, 1, 5, 8, 32 << 10, MaxContent} {
			content := bytes.Repeat([]byte{'c'}, clen)
			in := append(rawRec(TypeStdin, 3, content, pad), rawRec(TypeStdin, 3, []byte("next"), 0)...)
			r := bytes.NewReader(in)
			buf := make([]byte, RecordBufSize)
			rec, err := ReadRecord(r, buf)
			if err != nil {
				t.Fatalf("pad %d len %d: got error %v, want nil", pad, clen, err)
			}
			want := Header{Version: 1, Type: TypeStdin, ID: 3, ContentLength: uint16(clen), PaddingLength: uint8(pad)}
			if rec.Header != want || !bytes.Equal(rec.Content, content) {
				t.Fatalf("pad %d len %d: got %+v with %d bytes, want %+v", pad, clen, rec.Header, len(rec.Content), want)
			}
			if clen > 0 && &rec.Content[0] != &buf[0] {
				t.Errorf("pad %d len %d: got content outside buf, want it to alias buf", pad, clen)
			}
			rec, err = ReadRecord(r, buf)
			if err != nil || string(rec.Content) != "next" {
				t.Fatalf("pad %d len %d: got %q, %v after it, want \"next\" (padding not consumed?)", pad, clen, rec.Content, err)
			}
		}
	}
}

func TestReadRecordSmallBuf(t *testing.T) {
	in := rawRec(TypeStdout, 1, []byte("hello, world"), 4)
	for _, n := range []int{0, 4, 8, 12} {
		rec, err := ReadRecord(bytes.NewReader(in), make([]byte, n))
		if err != nil || string(rec.Content) != "hello, world" {
			t.Errorf("buf %d: got %q, %v, want \"hello, world\", nil", n, rec.Content, err)
		}
	}
}

func TestReadRecordErrors(t *testing.T) {
	good := rawRec(TypeStdin, 1, []byte("abcdef"), 2)
	badVersion := append([]byte(nil), good...)
	badVersion[0] = 2
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, io.EOF},
		{"half header", good[:5], io.ErrUnexpectedEOF},
		{"short content", good[:10], io.ErrUnexpectedEOF},
		{"no content", good[:8], io.ErrUnexpectedEOF},
		{"short padding", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"bad version", badVersion, errBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRecord(bytes.NewReader(tt.in), make([]byte, RecordBufSize))
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBeginEndRequest(t *testing.T) {
	b := AppendBeginRequest(nil, 0x0304, RoleFilter, FlagKeepConn)
	want := []byte{1, 1, 3, 4, 0, 8, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0}
	if !bytes.Equal(b, want) {
		t.Errorf("begin: got %x, want %x", b, want)
	}
	role, flags, err := ParseBeginRequest(b[8:])
	if role != RoleFilter || flags != FlagKeepConn || err != nil {
		t.Errorf("parse begin: got %v %d %v, want FILTER 1 nil", role, flags, err)
	}
	if _, _, err := ParseBeginRequest(b[8:15]); err == nil {
		t.Error("parse 7-byte begin: got nil error, want one")
	}
	e := AppendEndRequest(nil, 9, EndRequest{AppStatus: 0x01020304, ProtocolStatus: StatusOverloaded})
	want = []byte{1, 3, 0, 9, 0, 8, 0, 0, 1, 2, 3, 4, 2, 0, 0, 0}
	if !bytes.Equal(e, want) {
		t.Errorf("end: got %x, want %x", e, want)
	}
	er, err := ParseEndRequest(e[8:])
	if er != (EndRequest{0x01020304, StatusOverloaded}) || err != nil {
		t.Errorf("parse end: got %+v %v, want {16909060 OVERLOADED} nil", er, err)
	}
	u := AppendUnknownType(nil, 42)
	want = []byte{1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(u, want) {
		t.Errorf("unknown type: got %x, want %x", u, want)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{TypeBeginRequest.String(), "BEGIN_REQUEST"},
		{TypeUnknownType.String(), "UNKNOWN_TYPE"},
		{RecType(0).String(), "TYPE(0)"},
		{RecType(200).String(), "TYPE(200)"},
		{RoleResponder.String(), "RESPONDER"},
		{RoleAuthorizer.String(), "AUTHORIZER"},
		{RoleFilter.String(), "FILTER"},
		{Role(9).String(), "ROLE(9)"},
		{StatusRequestComplete.String(), "REQUEST_COMPLETE"},
		{StatusCantMpxConn.String(), "CANT_MPX_CONN"},
		{StatusOverloaded.String(), "OVERLOADED"},
		{StatusUnknownRole.String(), "UNKNOWN_ROLE"},
		{ProtocolStatus(7).String(), "STATUS(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestAppendPair(t *testing.T) {
	long := strings.Repeat("v", 128)
	tests := []struct {
		name, n, v string
		want       []byte
	}{
		{"short", "AB", "xyz", rawPair("AB", "xyz", false)},
		{"empty value", "HTTPS", "", []byte("\x05\x00HTTPS")},
		{"127", "N", strings.Repeat("v", 127), rawPair("N", strings.Repeat("v", 127), false)},
		{"long value", "N", long, append([]byte{1, 0x80, 0, 0, 128, 'N'}, long...)},
		{"long name", long, "v", append(append([]byte{0x80, 0, 0, 128, 1}, long...), 'v')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendPair(nil, tt.n, tt.v)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %x, want %x", got, tt.want)
			}
		})
	}
}

func TestParsePairs(t *testing.T) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	big := strings.Repeat("x", 70000)
	tests := []struct {
		name string
		in   []byte
		want []Pair
		bad  bool
	}{
		{"none", nil, nil, false},
		{"two", cat(rawPair("A", "1", false), rawPair("B", "", false)), []Pair{{"A", "1"}, {"B", ""}}, false},
		{"4-byte lengths of short strings", rawPair("A", "1", true), []Pair{{"A", "1"}}, false},
		{"big value", rawPair("BIG", big, false), []Pair{{"BIG", big}}, false},
		{"duplicate kept in order", cat(rawPair("A", "1", false), rawPair("A", "2", false)), []Pair{{"A", "1"}, {"A", "2"}}, false},
		{"name length only", []byte{3}, nil, true},
		{"truncated 4-byte length", []byte{0x80, 0, 0}, nil, true},
		{"truncated value length", []byte{1, 0x80, 0}, nil, true},
		{"value past end", []byte{1, 5, 'A', 'x'}, nil, true},
		{"name past end", []byte{9, 0, 'A'}, nil, true},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil, true},
		{"trailing garbage", cat(rawPair("A", "1", false), []byte{2}), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePairs(tt.in)
			if tt.bad {
				if !errors.Is(err, errPairs) {
					t.Errorf("got %v, want %v", err, errPairs)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d pairs, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("pair %d: got %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(rawRec(TypeStdin, 1, []byte("body"), 4))
	f.Add(rawRec(TypeParams, 2, rawPair("A", "B", false), 255))
	f.Add(append(rawRec(TypeStdout, 1, nil, 0), rawRec(TypeEndRequest, 1, make([]byte, 8), 0)...))
	f.Add([]byte{2, 1, 0, 1, 0, 8, 0, 0})
	f.Add([]byte{1, 5, 0, 1, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		buf := make([]byte, RecordBufSize)
		consumed := 0
		for {
			rec, err := ReadRecord(r, buf)
			if err != nil {
				if err == io.EOF && consumed != len(in) {
					t.Fatalf("got io.EOF after %d of %d bytes, want it only at the end", consumed, len(in))
				}
				return
			}
			if int(rec.ContentLength) != len(rec.Content) {
				t.Fatalf("got %d content bytes, header says %d", len(rec.Content), rec.ContentLength)
			}
			consumed += headerLen + int(rec.ContentLength) + int(rec.PaddingLength)
			// Re-encoding with our own padding gives back the same record.
			again, err := ReadRecord(bytes.NewReader(AppendRecord(nil, rec.Type, rec.ID, rec.Content)), nil)
			if err != nil || again.Type != rec.Type || again.ID != rec.ID || !bytes.Equal(again.Content, rec.Content) {
				t.Fatalf("round trip: got %+v %v, want %+v", again.Header, err, rec.Header)
			}
		}
	})
}

func FuzzPairs(f *testing.F) {
	f.Add(rawPair("SCRIPT_NAME", "/x.cgi", false))
	f.Add(append(rawPair("A", "", true), rawPair("", "b", false)...))
	f.Add([]byte{0x80, 0, 0, 1, 0})
	f.Add([]byte{1, 0x80, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		pairs, err := ParsePairs(in)
		m, count, merr := pairsMap(string(in), len(in))
		if (err == nil) != (merr == nil) {
			t.Fatalf("got ParsePairs error %v, pairsMap error %v; want both or neither", err, merr)
		}
		if err != nil {
			return
		}
		// The server's map holds what the pairs say, the last value of a
		// name winning.
		if count != len(pairs) {
			t.Fatalf("got count %d, want %d", count, len(pairs))
		}
		want := make(map[string]string)
		for _, p := range pairs {
			want[p.Name] = p.Value
		}
		if !maps.Equal(m, want) {
			t.Fatalf("got map %q, want %q", m, want)
		}
		if count > 0 {
			if m, _, _ := pairsMap(string(in), count-1); m != nil {
				t.Fatalf("got a map of %d params past a limit of %d, want none", len(m), count-1)
			}
		}
		// Whatever parses re-encodes to a buffer that parses the same; it
		// may be shorter (4-byte lengths of short strings become 1-byte).
		var out []byte
		for _, p := range pairs {
			out = AppendPair(out, p.Name, p.Value)
		}
		if len(out) > len(in) {
			t.Fatalf("got %d bytes re-encoded, want at most %d", len(out), len(in))
		}
		again, err := ParsePairs(out)
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("got %d pairs, %v on re-parse, want %d", len(again), err, len(pairs))
		}
		for i := range again {
			if again[i] != pairs[i] {
				t.Fatalf("pair %d: got %q, want %q", i, again[i], pairs[i])
			}
		}
	})
}

func TestAppendRequestHead(t *testing.T) {
	long := strings.Repeat("v", MaxContent+10) // its pair spans two records
	params := []Pair{{Name: "A", Value: "1"}, {Name: "LONG", Value: long}}
	b := AppendRequestHead(nil, 7, RoleFilter, FlagKeepConn, params)

	r := bytes.NewReader(b)
	buf := make([]byte, RecordBufSize)
	var types []RecType
	var pairs []byte
	for r.Len() > 0 {
		rec, err := ReadRecord(r, buf)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != 7 {
			t.Errorf("record %v: got id %d, want 7", rec.Type, rec.ID)
		}
		types = append(types, rec.Type)
		switch rec.Type {
		case TypeBeginRequest:
			role, flags, err := ParseBeginRequest(rec.Content)
			if err != nil || role != RoleFilter || flags != FlagKeepConn {
				t.Errorf("BEGIN_REQUEST: got %v %d %v, want FILTER, keep-conn", role, flags, err)
			}
		case TypeParams:
			pairs = append(pairs, rec.Content...)
		}
	}
	want := []RecType{TypeBeginRequest, TypeParams, TypeParams, TypeParams}
	if !slices.Equal(types, want) {
		t.Errorf("got records %v, want %v (the last PARAMS empty)", types, want)
	}
	got, err := ParsePairs(pairs)
	if err != nil || !slices.Equal(got, params) {
		t.Errorf("params: got %d pairs, %v; want the %d sent", len(got), err, len(params))
	}
}
