package gcloudconfig

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// parseProperties reads a gcloud properties file, an INI file in the
// dialect of Python's configparser (which gcloud uses): "[section]"
// headers; "name = value" or "name: value" options, split at the first
// delimiter, names folded to lower case; lines indented deeper than their
// option continue its value; whole-line comments start with "#" or ";";
// "%%" stands for "%" (configparser's interpolation). It is written by
// hand because no Go INI library is in this module's dependencies, and
// the few rules above are all gcloud's files use. Like configparser, it
// refuses an option outside any section and a line that is neither a
// header nor an option; unlike it (strict mode), a repeated section or
// option is not an error: the last value wins.
func parseProperties(data []byte) (map[string]string, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("is not UTF-8 text")
	}
	props := map[string]string{}
	section := ""
	var key string // the option a continuation line extends; "" if none
	keyIndent := 0
	for i, line := range strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case key != "" && indent > keyIndent:
			props[key] = strings.TrimSpace(props[key] + "\n" + trimmed)
			continue
		case trimmed[0] == '[':
			end := strings.LastIndexByte(trimmed, ']')
			if end < 2 {
				return nil, fmt.Errorf("line %d: malformed section header", i+1)
			}
			section, key = trimmed[1:end], ""
			continue
		}
		name, value, ok := splitOption(trimmed)
		switch {
		case !ok:
			return nil, fmt.Errorf("line %d: neither a [section] header nor a name = value line", i+1)
		case section == "":
			return nil, fmt.Errorf("line %d: %q comes before any [section] header", i+1, name)
		}
		key, keyIndent = section+"/"+name, indent
		props[key] = value
	}
	for k, v := range props {
		props[k] = strings.ReplaceAll(v, "%%", "%")
	}
	return props, nil
}

// splitOption splits "name = value" or "name: value" at the first
// delimiter, as configparser's OPTCRE does.
func splitOption(line string) (name, value string, ok bool) {
	i := strings.IndexAny(line, "=:")
	if i < 0 {
		return "", "", false
	}
	name = strings.ToLower(strings.TrimSpace(line[:i]))
	if name == "" {
		return "", "", false
	}
	return name, strings.TrimSpace(line[i+1:]), true
}
