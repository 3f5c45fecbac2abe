package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
)

// The container mode's inputs, cached under -rootfs-dir between runs since
// debootstrap takes minutes: rootfs/ (debootstrap's tree) and image/ (a
// one-layer OCI layout of it made with umoci). Each is made under a
// ".partial" name and renamed into place when complete, so a run that was
// stopped leaves nothing that a later run would take as done.

// The debootstrap of the issue: Debian bookworm, minbase, with python3.
var debootstrapArgs = []string{"--variant=minbase", "--include=python3-minimal", "bookworm"}

// debootstrapMirror is where debootstrap fetches the packages.
const debootstrapMirror = "http://deb.debian.org/debian"

// ctrImageRef is the image's tag in its layout's index.
const ctrImageRef = "bench"

// makeRootfs finds the cached root file system or makes it with
// debootstrap.
func (c *ctrBench) makeRootfs(ctx context.Context) error {
	c.rootfs = filepath.Join(c.cfg.rootfsDir, "rootfs")
	if isDir(c.rootfs) {
		c.logf("  cached: %s", c.rootfs)
		return nil
	}
	tool := lookTool("debootstrap", "/usr/sbin/debootstrap")
	if tool == "" {
		return errors.New("debootstrap is not installed (apt-get install -y debootstrap)")
	}
	partial := c.rootfs + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.rootfsDir, 0o755); err != nil {
		return err
	}
	c.logf("  debootstrap %s into %s (minutes)", debootstrapMirror, partial)
	args := append(append([]string{}, debootstrapArgs...), partial, debootstrapMirror)
	if _, err := timeCmd(ctx, nil, nil, tool, args...); err != nil {
		return err
	}
	return os.Rename(partial, c.rootfs)
}

// makeImage finds the cached OCI image or makes it with umoci: init, new,
// unpack, the tree copied into the bundle's rootfs, repack. (umoci insert
// at / would write an entry "/", which import refuses as absolute.)
func (c *ctrBench) makeImage(ctx context.Context) error {
	dir := filepath.Join(c.cfg.rootfsDir, "image")
	c.image = dir + ":" + ctrImageRef
	if isDir(dir) {
		c.logf("  cached: %s", dir)
		return nil
	}
	umoci := lookTool("umoci")
	if umoci == "" {
		return errors.New("umoci is not installed (apt-get install -y umoci)")
	}
	partial, work := dir+".partial", filepath.Join(c.cfg.rootfsDir, "image-work")
	for _, d := range []string{partial, work} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	defer os.RemoveAll(work)
	img := partial + ":" + ctrImageRef
	steps := [][]string{
		{umoci, "init", "--layout", partial},
		{umoci, "new", "--image", img},
		{umoci, "unpack", "--image", img, work},
		{"cp", "-a", c.rootfs + "/.", filepath.Join(work, "rootfs")},
		{umoci, "repack", "--image", img, work},
	}
	for _, st := range steps {
		if _, err := timeCmd(ctx, nil, nil, st[0], st[1:]...); err != nil {
			return err
		}
	}
	return os.Rename(partial, dir)
}

// isDir says whether path is a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
