package spawner

import (
	"slices"
	"strings"
	"testing"
)

func TestCleanEnv(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"empty", nil, nil},
		{"sorted, each name once", []string{"A=1", "AB=2", "B=x=y", "C="}, []string{"A=1", "AB=2", "B=x=y", "C="}},
		{"sorted, a name twice", []string{"A=1", "A=2", "B=3"}, []string{"A=2", "B=3"}},
		{"unsorted, a name twice", []string{"B=1", "A=1", "B=2"}, []string{"A=1", "B=2"}},
		{"unsorted, each name once", []string{"B=1", "A=1"}, []string{"B=1", "A=1"}},
		{"a name and its prefix", []string{"AB=1", "A=2", "AB=3"}, []string{"A=2", "AB=3"}},
		{"no = sign counts as a name", []string{"A", "A=1"}, []string{"A=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanEnv(slices.Clone(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCleanEnvRefusesNUL(t *testing.T) {
	for _, env := range [][]string{{"A=1", "B=\x00x"}, {"B=\x00x", "A=1"}} {
		if _, err := cleanEnv(env); err == nil || !strings.Contains(err.Error(), `"B=" contains NUL`) {
			t.Errorf("%q: got error %v, want one naming B=", env, err)
		}
	}
}

// TestCleanEnvSortedAllocatesNothing guards the common case: the
// environment cgienv.Environ makes is sorted, and cleaning it should cost
// no allocation per request.
func TestCleanEnvSortedAllocatesNothing(t *testing.T) {
	env := []string{"CONTENT_LENGTH=", "GATEWAY_INTERFACE=CGI/1.1", "PATH=/usr/bin:/bin", "QUERY_STRING=", "REQUEST_METHOD=GET"}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := cleanEnv(env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("got %.0f allocations, want 0", allocs)
	}
}
