// Command registry is the CNCF distribution OCI registry, built with only the in-memory
// storage driver, for kaito's pusher tests: it listens on 127.0.0.1 and keeps nothing on disk.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: registry 127.0.0.1:PORT")
		os.Exit(2)
	}
	config := &configuration.Configuration{}
	config.HTTP.Addr = os.Args[1]
	config.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	config.Log.Level = "warn"
	config.Log.AccessLog.Disabled = true
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
