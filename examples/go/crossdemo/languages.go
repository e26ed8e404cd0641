package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// language describes one language's example echo programs.
type language struct {
	Name string
	// Fragment is the mk/ file that builds the language; while it does not
	// exist the language has not landed and is skipped. Empty: always there.
	Fragment string
	Client   program
	Server   program
}

// program is how to run one example program.
type program struct {
	// Argv starts the program; the contract's flags are appended.
	Argv []string
	// Needs are the files that must exist for the program to run.
	Needs []string
	// Env is added to the demo's environment.
	Env []string
}

// languages lists the example programs, as the mk/ fragments build them.
func languages(root, bin, lib string) []language {
	python := func(script string) program {
		path := filepath.Join(root, "examples", "python", script)
		return program{
			Argv:  []string{"python3", path},
			Needs: []string{path, lib},
			Env: []string{
				"PYTHONPATH=" + filepath.Join(root, "bindings", "python"),
				"NETSYS_LIBRARY=" + lib,
				"PYTHONUNBUFFERED=1",
			},
		}
	}
	binary := func(name string) program {
		path := filepath.Join(bin, name)
		return program{Argv: []string{path}, Needs: []string{path}}
	}
	return []language{
		{Name: "go", Client: binary("go_echo_client"), Server: binary("go_echo_server")},
		{Name: "c", Fragment: "mk/capi.mk", Client: binary("c_echo_client"), Server: binary("c_echo_server")},
		{Name: "c++", Fragment: "mk/cpp.mk", Client: binary("cpp_echo_client"), Server: binary("cpp_echo_server")},
		{Name: "python", Fragment: "mk/python.mk", Client: python("echo_client.py"), Server: python("echo_server.py")},
	}
}

// availability says whether a program can run: "" if it can, else why not.
// skip is true when the language has not landed yet (no mk fragment).
func (l language) availability(root string, p program) (why string, skip bool) {
	if l.Fragment != "" {
		if _, err := os.Stat(filepath.Join(root, l.Fragment)); err != nil {
			return fmt.Sprintf("skipped: %s does not exist yet", l.Fragment), true
		}
	}
	for _, need := range p.Needs {
		if _, err := os.Stat(need); err != nil {
			return "not built: " + shortPath(root, need) + " is missing", false
		}
	}
	return "", false
}

// shortPath is path relative to root when it lies under root.
func shortPath(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}
