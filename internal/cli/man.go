package cli

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// ManPage renders fcgi-wrap(8) from the app, as roff written directly:
// the options, their defaults and environment variables come from the
// same flag table as --help, and the sections a reader of nginx(8) or
// php-fpm(8) looks for (ENVIRONMENT, SIGNALS, EXIT STATUS, FILES,
// EXAMPLES) from manSections. urfave's own ToMan goes through Markdown,
// which turns "HTTP_NAME ... CONTENT_*" into italics and prints every
// option as `--flag=""`; its templates are package-level variables that
// must not be changed, so they are not used at all.
func ManPage(app *cli.App) string {
	var b strings.Builder
	b.WriteString(`.\" Generated from the fcgi-wrap command line (internal/cli); do not edit.
.\" Rewrite with: go test ./internal/cli -run TestManPage -update
`)
	fmt.Fprintf(&b, ".TH FCGI\\-WRAP 8 \"\" \"fcgi-wrap\" \"System Manager's Manual\"\n")
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "fcgi\\-wrap \\- %s\n", roff(app.Usage))
	b.WriteString(".SH SYNOPSIS\n")
	for i, line := range strings.Split(app.UsageText, "\n") {
		if i > 0 {
			b.WriteString(".br\n")
		}
		b.WriteString(synopsisLine(line))
	}
	b.WriteString(".SH DESCRIPTION\n")
	writeParagraphs(&b, app.Description)
	b.WriteString(".SH OPTIONS\n")
	writeFlags(&b, app.Flags, true)
	b.WriteString(".SH COMMANDS\n")
	for _, cmd := range app.Commands {
		fmt.Fprintf(&b, ".SS \"%s\"\n", synopsisText(app.Name+" "+cmd.Name+" [flags] "+cmd.ArgsUsage))
		writeParagraphs(&b, cmd.Usage+".")
		if cmd.Description != "" {
			writeParagraphs(&b, cmd.Description)
		}
		if sameFlags(cmd.Flags, app.Flags) {
			writeParagraphs(&b, "It takes every option of serving (above), from the command line, the environment and --config alike.")
			continue
		}
		writeFlags(&b, cmd.Flags, false)
	}
	b.WriteString(".SH ENVIRONMENT\n")
	writeParagraphs(&b, "Every option can be set from the environment: --some-flag as FCGI_WRAP_SOME_FLAG. "+
		"The command line wins over the environment, which wins over --config. "+
		"An option that may be repeated takes a comma-separated list here.")
	writeEnvironment(&b, app)
	for _, s := range manSections {
		fmt.Fprintf(&b, ".SH %s\n", s.title)
		b.WriteString(s.body)
	}
	return b.String()
}

// synopsisLine sets a UsageText line as nginx(8) does: the program and
// command in bold, the rest in italics.
func synopsisLine(line string) string {
	return synopsisText(line) + "\n"
}

func synopsisText(line string) string {
	words := strings.Fields(line)
	var out []string
	for i, w := range words {
		switch {
		case i == 0 || (i == 1 && !strings.HasPrefix(w, "[")):
			out = append(out, `\fB`+roff(w)+`\fR`)
		default:
			out = append(out, `\fI`+roff(w)+`\fR`)
		}
	}
	return strings.Join(out, " ")
}

func writeParagraphs(b *strings.Builder, text string) {
	for _, p := range strings.Split(text, "\n\n") {
		b.WriteString(".PP\n")
		b.WriteString(roffLine(p))
		b.WriteString("\n")
	}
}

// writeFlags lists the flags without a category first (--version, and
// --help if withBuiltins), then the others by category, in the order the
// categories first appear in the table.
func writeFlags(b *strings.Builder, flags []cli.Flag, withBuiltins bool) {
	var order []string
	byCategory := map[string][]cli.Flag{}
	for _, f := range flags {
		cat := ""
		if c, ok := f.(cli.CategorizableFlag); ok {
			cat = c.GetCategory()
		}
		if _, seen := byCategory[cat]; !seen && cat != "" {
			order = append(order, cat)
		}
		byCategory[cat] = append(byCategory[cat], f)
	}
	if withBuiltins {
		b.WriteString(".TP\n\\fB\\-\\-help\\fR, \\fB\\-h\\fR\nshow the options and exit\n")
	}
	for _, f := range byCategory[""] {
		writeFlag(b, f)
	}
	for _, cat := range order {
		fmt.Fprintf(b, ".SS %s\n", roff(cat))
		for _, f := range byCategory[cat] {
			writeFlag(b, f)
		}
	}
}

func writeFlag(b *strings.Builder, f cli.Flag) {
	doc, _ := f.(cli.DocGenerationFlag)
	usage := ""
	if doc != nil {
		usage = doc.GetUsage()
	}
	arg, text := placeholder(usage)
	var names []string
	for _, n := range f.Names() {
		dash := "\\-"
		if len(n) > 1 {
			dash = "\\-\\-"
		}
		names = append(names, `\fB`+dash+roff(n)+`\fR`)
	}
	b.WriteString(".TP\n")
	b.WriteString(strings.Join(names, ", "))
	if doc != nil && doc.TakesValue() {
		if arg == "" {
			arg = argName(f)
		}
		b.WriteString(` \fI` + roff(arg) + `\fR`)
	}
	b.WriteString("\n" + text)
	if def := flagDefault(f); def != "" {
		b.WriteString(" (default: " + roff(def) + ")")
	}
	b.WriteString("\n")
}

// placeholder finds the `NAME` urfave shows as the flag's argument and
// returns it with the usage set in roff, NAME in italics.
func placeholder(usage string) (name, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if ok {
		if n, after, ok := strings.Cut(rest, "`"); ok {
			return n, roffLine(before) + `\fI` + roff(n) + `\fR` + roff(after)
		}
	}
	return "", roffLine(usage)
}

// argName names a flag's argument by its type where the usage has no
// `NAME`.
func argName(f cli.Flag) string {
	switch unwrap(f).(type) {
	case *cli.IntFlag, *cli.Int64Flag:
		return "N"
	case *cli.DurationFlag:
		return "DURATION"
	}
	return "VALUE"
}

// flagDefault is the default worth printing: its DefaultText, or its value
// unless that is the zero value.
func flagDefault(f cli.Flag) string {
	switch f := unwrap(f).(type) {
	case *cli.StringFlag:
		return cmp.Or(f.DefaultText, f.Value)
	case *cli.IntFlag:
		if f.Value != 0 {
			return cmp.Or(f.DefaultText, fmt.Sprint(f.Value))
		}
		return f.DefaultText
	case *cli.Int64Flag:
		if f.Value != 0 {
			return cmp.Or(f.DefaultText, fmt.Sprint(f.Value))
		}
		return f.DefaultText
	case *cli.DurationFlag:
		if f.Value != 0 {
			return cmp.Or(f.DefaultText, shortDuration(f.Value))
		}
		return f.DefaultText
	}
	return ""
}

// shortDuration writes 1m0s as 1m and 1h0m0s as 1h, as people do.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// unwrap returns the cli flag inside an altsrc one.
func unwrap(f cli.Flag) cli.Flag {
	switch f := f.(type) {
	case *altsrc.StringFlag:
		return f.StringFlag
	case *altsrc.StringSliceFlag:
		return f.StringSliceFlag
	case *altsrc.IntFlag:
		return f.IntFlag
	case *altsrc.Int64Flag:
		return f.Int64Flag
	case *altsrc.BoolFlag:
		return f.BoolFlag
	case *altsrc.DurationFlag:
		return f.DurationFlag
	}
	return f
}

func sameFlags(a, b []cli.Flag) bool {
	names := map[string]bool{}
	for _, f := range b {
		names[f.Names()[0]] = true
	}
	for _, f := range a {
		if !names[f.Names()[0]] {
			return false
		}
	}
	return true
}

// writeEnvironment lists every variable a flag reads, then those fcgi-wrap
// honours from its surroundings (manEnvironment).
func writeEnvironment(b *strings.Builder, app *cli.App) {
	flags := append([]cli.Flag(nil), app.Flags...)
	commandOf := map[cli.Flag]string{}
	for _, cmd := range app.Commands {
		for _, f := range cmd.Flags {
			flags = append(flags, f)
			commandOf[f] = " of \\fB" + roff(cmd.Name) + "\\fR"
		}
	}
	// One line each, as the list is long.
	b.WriteString(".PD 0\n")
	seen := map[string]bool{}
	for _, f := range flags {
		env, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		for _, v := range env.GetEnvVars() {
			if seen[v] {
				continue
			}
			seen[v] = true
			fmt.Fprintf(b, ".TP 30\n\\fB%s\\fR\nas \\fB\\-\\-%s\\fR%s\n", roff(v), roff(f.Names()[0]), commandOf[f])
		}
	}
	b.WriteString(".PD\n")
	b.WriteString(manEnvironment)
}

// roff escapes text for a roff line: backslashes and hyphens (so that
// options copy and paste as typed).
func roff(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffLine escapes a line that may start with a control character.
func roffLine(s string) string {
	s = roff(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
