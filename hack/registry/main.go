// Command registry is the CNCF distribution OCI registry with two storage drivers, so one
// binary serves kaito's two uses of a local registry:
//
//	registry 127.0.0.1:PORT
//	    in-memory storage, nothing kept on disk: the pusher tests (tests/tuning).
//	registry -storage=filesystem -root=DIR [-delete] 10.245.0.1:5000
//	    filesystem storage under DIR, surviving restarts: the local registry kaito's images are
//	    pushed to and the local kubelet pulls from (kaito testenv registry up).
//	registry -gc -root=DIR
//	    garbage-collect DIR and exit: delete untagged manifests and every blob no manifest
//	    references (`registry garbage-collect -m`); only while no registry serves DIR.
//
// It always serves plain HTTP: both uses are on addresses that never leave the machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

func main() {
	flags := flag.NewFlagSet("registry", flag.ExitOnError)
	storage := flags.String("storage", "inmemory", "storage driver: inmemory or filesystem")
	root := flags.String("root", "", "data directory of the filesystem driver")
	deletes := flags.Bool("delete", false, "allow DELETE of manifests and blobs")
	logLevel := flags.String("log-level", "warn", "error, warn, info or debug")
	accessLog := flags.Bool("access-log", false, "log every request")
	gc := flags.Bool("gc", false, "garbage-collect -root (filesystem) and exit")
	flags.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: registry [-storage=inmemory|filesystem] [-root=DIR] [-delete] HOST:PORT")
		fmt.Fprintln(os.Stderr, "       registry -gc -root=DIR")
		flags.PrintDefaults()
	}
	_ = flags.Parse(os.Args[1:])
	if *gc {
		if *root == "" || flags.NArg() != 0 {
			flags.Usage()
			os.Exit(2)
		}
		if err := collectGarbage(*root); err != nil {
			fmt.Fprintln(os.Stderr, "registry -gc:", err)
			os.Exit(1)
		}
		return
	}
	// distribution v3 exports OpenTelemetry traces to localhost:4318 by default, logging an
	// error every few seconds when nothing listens there; nothing does on this machine.
	if os.Getenv("OTEL_TRACES_EXPORTER") == "" {
		_ = os.Setenv("OTEL_TRACES_EXPORTER", "none")
	}
	if flags.NArg() != 1 {
		flags.Usage()
		os.Exit(2)
	}

	config := &configuration.Configuration{}
	config.HTTP.Addr = flags.Arg(0)
	config.Catalog.MaxEntries = 1000 // configuration.Parse's default; a bare struct has 0
	switch *storage {
	case "inmemory":
		config.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	case "filesystem":
		if *root == "" {
			fmt.Fprintln(os.Stderr, "registry: -storage=filesystem needs -root=DIR")
			os.Exit(2)
		}
		if err := os.MkdirAll(*root, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		config.Storage = configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": *root},
			// blob descriptors cached in memory: HEAD requests (the build script's "is this
			// tag pushed?" and every layer check of a push) skip the filesystem.
			"cache": configuration.Parameters{"blobdescriptor": "inmemory"},
		}
	default:
		fmt.Fprintf(os.Stderr, "registry: unknown -storage=%s (inmemory or filesystem)\n", *storage)
		os.Exit(2)
	}
	if *deletes {
		config.Storage["delete"] = configuration.Parameters{"enabled": true}
	}
	config.Log.Level = configuration.Loglevel(*logLevel)
	config.Log.AccessLog.Disabled = !*accessLog

	reg, err := registry.NewRegistry(context.Background(), config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := reg.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// collectGarbage is `registry garbage-collect --delete-untagged` on a filesystem root.
func collectGarbage(root string) error {
	ctx := context.Background()
	driver, err := factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": root})
	if err != nil {
		return err
	}
	namespace, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return err
	}
	return storage.MarkAndSweep(ctx, driver, namespace, storage.GCOpts{RemoveUntagged: true, Quiet: true})
}
