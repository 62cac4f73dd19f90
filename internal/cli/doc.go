// Package cli wires gcptoken's command-line flags to the library. Each
// command lives in its own file as an Options struct, a constructor that binds
// flags, and a run function that takes the options and injected I/O streams,
// so commands are testable without a subprocess. Exit codes are decided in one
// place (exitcode.go); main only exits.
package cli
