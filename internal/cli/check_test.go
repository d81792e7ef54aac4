package cli

import "testing"

func TestCommandOf(t *testing.T) {
	flags := NewApp().Flags
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"fcgi-wrap", "check"}, "check"},
		{[]string{"fcgi-wrap", "-c", "4", "check", "--workers", "x"}, "check"},
		{[]string{"fcgi-wrap", "--workers=4", "-f", "check"}, "check"},
		{[]string{"fcgi-wrap", "--socket", "check"}, ""}, // a socket named "check"
		{[]string{"fcgi-wrap", "./check"}, "./check"},
		{[]string{"fcgi-wrap", "--", "check"}, ""},
		{[]string{"fcgi-wrap", "--allow-root"}, ""},
	} {
		if got := commandOf(flags, tt.args); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.args, got, tt.want)
		}
	}
}
