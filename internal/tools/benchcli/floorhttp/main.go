// Command floorhttp is what an uncached token costs at the least: the floor
// (read one file, a credentials file) plus one HTTP round trip, a POST of
// the file to a loopback URL, whose answer it prints. benchcli compares
// gcptoken's uncached print-access-token with it.
package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		os.Stderr.WriteString("floorhttp: " + err.Error() + "\n")
		os.Exit(1)
	}
}

func run(file, url string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	resp, err := http.Post(url, "application/x-www-form-urlencoded", bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	_, err = os.Stdout.Write(body)
	return err
}
