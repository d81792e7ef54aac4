module github.com/fcgi-wrap/fcgi-wrap/bench

go 1.26

require (
	github.com/fcgi-wrap/fcgi-wrap v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.35.0
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/hashicorp/go-hclog v1.6.3 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.14 // indirect
)

// The harness drives the checkout it lives in, never a published version.
replace github.com/fcgi-wrap/fcgi-wrap => ../
