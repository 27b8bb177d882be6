package launch

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/saturn-pods/saturn/inroot"
)

// userVars are the variables rkt's stage1 gives every app unless its
// manifest sets them. rkt fills them with root's values whatever user the
// app runs as (its issue 2569); saturn takes them from the app's user in
// the image's /etc/passwd, with rkt's values for root without an entry
// and HOME=/ and SHELL=/bin/sh for another uid without one.
var userVars = []string{"HOME", "USER", "LOGNAME", "SHELL"}

// withUserEnv adds HOME, USER, LOGNAME and SHELL for uid, as found in the
// passwd database of root, to env where env does not set them.
func withUserEnv(env []string, root string, uid uint32) []string {
	vals := userEnv(root, uid)
	for _, k := range userVars {
		v, ok := vals[k]
		if !ok || hasVar(env, k) {
			continue
		}
		env = append(env, k+"="+v)
	}
	return env
}

func userEnv(root string, uid uint32) map[string]string {
	name, home, shell, ok := passwdEntry(root, uid)
	switch {
	case ok:
		if home == "" {
			home = "/"
		}
		if shell == "" {
			shell = "/bin/sh"
		}
		return map[string]string{"HOME": home, "USER": name, "LOGNAME": name, "SHELL": shell}
	case uid == 0:
		return map[string]string{"HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/sh"}
	}
	return map[string]string{"HOME": "/", "SHELL": "/bin/sh"}
}

// passwdEntry finds uid in root's /etc/passwd (symlinks resolved inside
// root): its name, home directory and shell.
func passwdEntry(root string, uid uint32) (name, home, shell string, ok bool) {
	p, err := inroot.Resolve(root, "/etc/passwd")
	if err != nil {
		return "", "", "", false
	}
	f, err := os.Open(p)
	if err != nil {
		return "", "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) < 7 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if n, err := strconv.ParseUint(fields[2], 10, 32); err == nil && uint32(n) == uid {
			return fields[0], fields[5], fields[6], true
		}
	}
	return "", "", "", false
}

func hasVar(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}
