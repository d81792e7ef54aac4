package main

import (
	"bytes"
	"testing"
)

func TestRespCheck(t *testing.T) {
	tests := []struct {
		name       string
		writes     []string
		wantDone   bool
		wantStatus int
		wantBody   int64
	}{
		{"no status means 200", []string{"Content-Type: text/plain\r\n\r\nok\n"}, true, 200, 3},
		{"status header", []string{"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno"}, true, 404, 2},
		{"lower-case status", []string{"status: 503\r\n\r\n"}, true, 503, 0},
		{"bare LF head", []string{"Content-Type: text/plain\n\nhello"}, true, 200, 5},
		{"blank line split across writes", []string{"Content-Type: a\r\n\r", "\nbody"}, true, 200, 4},
		{"blank line split after the first LF", []string{"Content-Type: a\r\n", "\r\nxy"}, true, 200, 2},
		{"body counted over many writes", []string{"A: b\r\n\r\n12", "345", "6789"}, true, 200, 9},
		{"separator inside the body is body", []string{"A: b\r\n\r\n\r\n\r\n"}, true, 200, 4},
		{"malformed status", []string{"Status: abc\r\n\r\n"}, true, 0, 0},
		{"no blank line yet", []string{"Content-Type: text/plain\r\n"}, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w respCheck
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", s, n, err, len(s))
				}
			}
			if w.complete() != tt.wantDone {
				t.Fatalf("complete: got %v, want %v", w.complete(), tt.wantDone)
			}
			if w.status != tt.wantStatus {
				t.Errorf("status: got %d, want %d", w.status, tt.wantStatus)
			}
			if w.body != tt.wantBody {
				t.Errorf("body: got %d, want %d", w.body, tt.wantBody)
			}
		})
	}
}

func TestRespCheckHeadTooLong(t *testing.T) {
	var w respCheck
	line := bytes.Repeat([]byte("X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"), 200)
	_, err := w.Write(line)
	if err != errHeadTooLong {
		t.Errorf("got %v, want %v", err, errHeadTooLong)
	}
}

// FuzzRespCheck checks that however a response is cut into records, the
// checker reads the same status and body length as from one write.
func FuzzRespCheck(f *testing.F) {
	f.Add([]byte("Content-Type: text/plain\r\n\r\nok\n"), uint16(27))
	f.Add([]byte("Status: 502 Bad Gateway\n\nx"), uint16(3))
	f.Add([]byte("A: b\r\n\r\n\r\n\r\n"), uint16(7))
	f.Add([]byte("no head at all"), uint16(0))
	f.Fuzz(func(t *testing.T, resp []byte, cut uint16) {
		var whole respCheck
		_, errWhole := whole.Write(resp)
		var split respCheck
		c := int(cut) % (len(resp) + 1)
		_, err1 := split.Write(resp[:c])
		var err2 error
		if err1 == nil {
			_, err2 = split.Write(resp[c:])
		}
		if errWhole != nil || err1 != nil || err2 != nil {
			// Only an overlong head may fail, and only past the limit.
			if len(resp) <= maxHead {
				t.Fatalf("error on %d bytes: %v %v %v", len(resp), errWhole, err1, err2)
			}
			return
		}
		if whole.complete() != split.complete() || whole.status != split.status || whole.body != split.body {
			t.Errorf("cut at %d: got (%v, %d, %d), want (%v, %d, %d)", c,
				split.complete(), split.status, split.body, whole.complete(), whole.status, whole.body)
		}
		if whole.complete() && whole.body > int64(len(resp)) {
			t.Errorf("body %d longer than the response %d", whole.body, len(resp))
		}
	})
}

func BenchmarkRespCheckBody(b *testing.B) {
	chunk := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	var w respCheck
	w.Write([]byte("Content-Type: a\r\n\r\n"))
	for b.Loop() {
		w.Write(chunk)
	}
}
