// Command floor is what a cached token costs at the least: a Go program
// that reads one file (a token cache entry) and prints it. It imports only
// package os, so its start-up is the Go runtime's. benchcli compares
// gcptoken's cached commands with it.
package main

import "os"

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		os.Stderr.WriteString("floor: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.Write(data)
}
