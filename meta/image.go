package meta

import (
	"fmt"
	"strings"
)

// Image is what an OCI image's config says about running it: the process
// settings `piecefs import` copies from the image it flattens, so that a
// runtime bundle can be written from the manifest alone. It is pinned by
// the manifest's digest like the tree.
type Image struct {
	OS           string   `json:"os,omitempty"`
	Architecture string   `json:"architecture,omitempty"`
	Entrypoint   []string `json:"entrypoint,omitempty"`
	Cmd          []string `json:"cmd,omitempty"`
	Env          []string `json:"env,omitempty"`
	WorkingDir   string   `json:"workingDir,omitempty"`
	User         string   `json:"user,omitempty"`
}

// Bounds on an Image. An argument or environment string is bounded as
// Linux bounds one handed to execve (MAX_ARG_STRLEN), and all of them
// together as its default ARG_MAX, so that anything a manifest carries
// could be executed.
const (
	MaxImageString  = 128 << 10 // bytes in one entrypoint, cmd or env string
	MaxImageBytes   = 2 << 20   // bytes in all strings of an Image together
	MaxImageList    = 1 << 16   // strings in each of entrypoint, cmd and env
	MaxImageNameLen = 255       // bytes in os, architecture and user
)

// validate checks the bounds above, that no string holds a NUL (none could
// be passed to execve), and that every Env string is KEY=VALUE with a
// non-empty KEY.
func (im *Image) validate() error {
	var c imageCheck
	c.str("os", -1, im.OS, MaxImageNameLen)
	c.str("architecture", -1, im.Architecture, MaxImageNameLen)
	c.str("user", -1, im.User, MaxImageNameLen)
	c.str("workingDir", -1, im.WorkingDir, MaxPathLen)
	c.list("entrypoint", im.Entrypoint)
	c.list("cmd", im.Cmd)
	c.list("env", im.Env)
	for i, kv := range im.Env {
		if k, _, ok := strings.Cut(kv, "="); c.err == nil && (!ok || k == "") {
			c.err = fmt.Errorf("env[%d] %.40q: want KEY=VALUE", i, kv)
		}
	}
	if c.err == nil && c.total > MaxImageBytes {
		c.err = fmt.Errorf("%d bytes of strings, more than %d", c.total, MaxImageBytes)
	}
	return c.err
}

// imageCheck keeps the first error found and the bytes counted so far.
type imageCheck struct {
	err   error
	total int
}

// str checks s, the field's value or (i ≥ 0) its element i.
func (c *imageCheck) str(field string, i int, s string, limit int) {
	c.total += len(s)
	var why string
	switch {
	case c.err != nil:
		return
	case len(s) > limit:
		why = fmt.Sprintf("%d bytes, more than %d", len(s), limit)
	case strings.IndexByte(s, 0) >= 0:
		why = "contains NUL"
	default:
		return
	}
	if i >= 0 {
		field = fmt.Sprintf("%s[%d]", field, i)
	}
	c.err = fmt.Errorf("%s: %s", field, why)
}

func (c *imageCheck) list(field string, l []string) {
	if c.err == nil && len(l) > MaxImageList {
		c.err = fmt.Errorf("%s: %d strings, more than %d", field, len(l), MaxImageList)
		return
	}
	for i, s := range l {
		if c.err != nil {
			return
		}
		c.str(field, i, s, MaxImageString)
	}
}
